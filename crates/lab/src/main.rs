//! `lab`: list, run and check subspace-method suites.

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lab",
    version,
    about = "galore-lab: which subspace method serves GaLore best"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every registered subspace-method plugin with its params and defaults.
    List,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::List => list(),
    }
}

fn list() -> Result<()> {
    let registry = lab::registry()?;
    for entry in registry.entries() {
        let method = entry.build_default()?;
        let status = match method.availability() {
            Ok(()) => String::new(),
            Err(reason) => format!("  [unavailable: {reason}]"),
        };
        println!("{}  ({:?}){status}", entry.name, method.device());
        println!("    {}", entry.summary);
        let params = entry.params();
        if params.is_empty() {
            println!("    params: none");
        }
        for p in params {
            println!("    {} = {}", p.name, p.default);
            for line in p.doc.lines() {
                println!("        {}", line.trim());
            }
        }
        println!();
    }
    Ok(())
}
