//! The readers of user input under seeded mutations of valid files: matrix
//! files (.npy, .safetensors), suites (TOML), baselines (CSV), corpora
//! (text, JSON lines, gzip, u16 tokens) and checkpoints (trainer.json and
//! the two safetensors files, resumed as `lab train --resume` does and, when
//! accepted, stepped once). Mutations: bit flips, insertions, deletions,
//! truncations at many offsets, 8-byte lengths set to extremes, and, in a
//! header re-framed so that only it is wrong, numbers set to huge values
//! (shapes of 10¹², offsets past the end) and dtype or key strings changed.
//!
//! Contract held: every case ends in a value the reader vouches for (finite
//! matrices, in-range tokens, a baseline with finite non-negative
//! tolerances) or in an error naming the file; no case panics or aborts.
//! The cases run in a child process of this test binary under an
//! address-space limit (`ulimit -v`) and a low `LAB_MEMORY_BUDGET`, with no
//! `catch_unwind`: a panic fails the child, an allocation past the limit
//! aborts it, and either fails this test, naming the last case begun.

mod common;
mod fuzz;

use std::path::Path;

use fuzz::{Mutator, frame_npy, frame_st, reshaped_data, sweep};
use harness::baseline::Baseline;
use harness::source::{Tensors, load_file};
use harness::suite::Suite;
use llama::data::{Corpus, Tokenizer, write_u16};
use llama::session::{OptimizerKind, TrainConfig};
use safetensors::Dtype;
use subspace::Registry;

/// The child's address space (KiB for `ulimit -v`) and memory budget.
const LIMIT_KIB: u64 = 3 << 20;
const BUDGET: &str = "256M";
/// Cases per reader (checkpoints: [`CHECKPOINT_CASES`]).
const CASES: usize = 300;
const CHECKPOINT_CASES: usize = 160;

#[test]
fn readers_survive_seeded_mutations_under_a_memory_limit() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {LIMIT_KIB} && exec \"$0\" --exact fuzz_child --ignored --nocapture \
             --test-threads 1"
        ))
        .arg(&exe)
        .env("LAB_MEMORY_BUDGET", BUDGET)
        .env("MALLOC_ARENA_MAX", "1")
        .env("RAYON_NUM_THREADS", "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let last_case = text.lines().rfind(|l| l.starts_with("case ")).unwrap_or("");
    let panic = text
        .lines()
        .find(|l| l.contains("panicked at"))
        .unwrap_or("");
    let tail: Vec<&str> = text.lines().rev().take(12).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    assert!(
        out.status.success(),
        "the fuzz child failed ({}) in {last_case}\n{panic}\nits last lines:\n{}",
        out.status,
        tail.join("\n")
    );
    assert!(text.contains("fuzz: all readers done"), "{text}");
}

/// Outcomes of one reader's cases.
#[derive(Default)]
struct Tally {
    ok: usize,
    err: usize,
}

impl Tally {
    /// Counts `result`; an error must name `path`.
    #[track_caller]
    fn record<T>(&mut self, case: &str, path: &Path, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => {
                self.ok += 1;
                Some(v)
            }
            Err(msg) => {
                self.err += 1;
                eprintln!("  refused: {msg}");
                assert!(
                    msg.contains(&path.display().to_string()),
                    "{case}: the error does not name {}: {msg}",
                    path.display()
                );
                None
            }
        }
    }

    #[track_caller]
    fn report(&self, reader: &str, cases: usize) {
        eprintln!("fuzz: {reader}: {} accepted, {} refused", self.ok, self.err);
        assert_eq!(self.ok + self.err, cases, "{reader}");
        // The mutations reach both sides: some survive, some are caught.
        assert!(
            self.ok > 0 && self.err > 0,
            "{reader}: {} / {}",
            self.ok,
            self.err
        );
    }
}

/// Announces a case on stderr, so the parent names it if the child dies.
fn begin(reader: &str, i: usize, desc: &str) -> String {
    let case = format!("{reader} #{i}: {desc}");
    eprintln!("case {case}");
    case
}

#[test]
#[ignore = "run by readers_survive_seeded_mutations_under_a_memory_limit under ulimit -v"]
fn fuzz_child() {
    // The limit is in force (KiB in `ulimit -v`, bytes here).
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))
        .unwrap();
    assert!(line.contains(&(LIMIT_KIB * 1024).to_string()), "{line}");
    assert_eq!(std::env::var("LAB_MEMORY_BUDGET").as_deref(), Ok(BUDGET));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    npy(d);
    safetensors(d);
    suites(d);
    baselines(d);
    corpora(d);
    checkpoints(d);
    eprintln!("fuzz: all readers done");
}

/// Loads a matrix file (named exactly on even cases, as a glob member on
/// odd ones); an accepted file's matrices are finite.
fn matrix_case(t: &mut Tally, case: &str, path: &Path, explicit: bool) {
    let result = load_file(path, &Tensors::All, explicit).map_err(|e| e.to_string());
    if let Some(loaded) = t.record(case, path, result) {
        for m in &loaded.matrices {
            let mut finite = true;
            for j in 0..m.matrix.ncols() {
                for i in 0..m.matrix.nrows() {
                    finite &= m.matrix[(i, j)].is_finite();
                }
            }
            assert!(finite, "{case}: `{}` has a non-finite entry", m.name);
        }
    }
}

fn npy(d: &Path) {
    let dict = |descr: &str, fortran: &str, shape: &str| {
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}\n")
    };
    let seeds: Vec<(String, Vec<u8>)> = vec![
        (
            dict("<f4", "False", "(8, 6)"),
            common::f32_bytes(&[0.5; 48]),
        ),
        (
            dict("<f8", "True", "(5, 7)"),
            common::f64_bytes(&[-1.25; 35]),
        ),
        (dict("<f2", "False", "(3, 4)"), [0x00, 0x3c].repeat(12)),
        (
            dict(">f4", "False", "(2, 2, 2)"),
            [0x3f, 0x80, 0, 0].repeat(8),
        ),
    ];
    let words: &[(&str, &[&str])] = &[
        (
            "<f4",
            &[
                "<f8", "<f2", "<i8", "|V2", "<c8", "|O", "<U8", ">f4", "f4", "",
            ],
        ),
        ("<f8", &["<f4", "<f2", "|b1", "<M8[s]", "<f16"]),
        ("False", &["True", "None", "0"]),
        ("True", &["False", "1"]),
        ("shape", &["shap", "descr"]),
        ("(", &["[", "((", ""]),
    ];
    let mut m = Mutator::new(0x006e_7079);
    let mut t = Tally::default();
    let path = d.join("fuzz.npy");
    for i in 0..CASES {
        let (dict, data) = m.pick(&seeds).clone();
        let (bytes, desc) = if i % 2 == 0 {
            m.bytes(&frame_npy(dict.as_bytes(), &data), 10 + dict.len())
        } else {
            let (dict, desc) = m.text(dict.as_bytes(), words);
            let (data, how) = reshaped_data(&mut m, &data);
            (frame_npy(&dict, &data), format!("header {desc}, {how}"))
        };
        let case = begin("npy", i, &desc);
        std::fs::write(&path, bytes).unwrap();
        matrix_case(&mut t, &case, &path, i % 4 < 2);
    }
    let swept = sweep(&frame_npy(seeds[0].0.as_bytes(), &seeds[0].1));
    for (i, (bytes, desc)) in swept.iter().enumerate() {
        let case = begin("npy sweep", i, desc);
        std::fs::write(&path, bytes).unwrap();
        matrix_case(&mut t, &case, &path, true);
    }
    t.report("npy", CASES + swept.len());
}

fn safetensors(d: &Path) {
    let valid = d.join("valid.safetensors");
    common::write_st(
        &valid,
        &[
            ("a", Dtype::F32, vec![4, 5], common::f32_bytes(&[1.5; 20])),
            ("b", Dtype::BF16, vec![3, 3], [0x80, 0x3f].repeat(9)),
            ("c", Dtype::F64, vec![4], common::f64_bytes(&[2.0; 4])),
            ("d", Dtype::F16, vec![2, 3], [0x00, 0x3c].repeat(6)),
        ],
    );
    let bytes = std::fs::read(&valid).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let (header, data) = (bytes[8..8 + n].to_vec(), bytes[8 + n..].to_vec());
    let words: &[(&str, &[&str])] = &[
        (
            "F32",
            &["I64", "F8_E4M3", "BOOL", "XYZ", "f32", "F64", "BF16"],
        ),
        ("BF16", &["F16", "U8", "F32"]),
        ("F64", &["F32", "C64"]),
        ("data_offsets", &["data_offset", "shape"]),
        ("shape", &["dtype", "shapes"]),
        ("__metadata__", &["a", "__meta__"]),
        ("[", &["{", ""]),
    ];
    let mut m = Mutator::new(0x7374);
    let mut t = Tally::default();
    let path = d.join("fuzz.safetensors");
    for i in 0..CASES {
        let (mutant, desc) = if i % 2 == 0 {
            m.bytes(&bytes, 8 + n)
        } else {
            let (header, desc) = m.text(&header, words);
            let (data, how) = reshaped_data(&mut m, &data);
            (frame_st(&header, &data), format!("header {desc}, {how}"))
        };
        let case = begin("safetensors", i, &desc);
        std::fs::write(&path, mutant).unwrap();
        matrix_case(&mut t, &case, &path, i % 4 < 2);
    }
    let swept = sweep(&bytes);
    for (i, (bytes, desc)) in swept.iter().enumerate() {
        let case = begin("safetensors sweep", i, desc);
        std::fs::write(&path, bytes).unwrap();
        matrix_case(&mut t, &case, &path, false);
    }
    t.report("safetensors", CASES + swept.len());
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<svd::Svd>().unwrap();
    r.register::<rrf::Rrf>().unwrap();
    r
}

const SUITE: &str = r#"seed = 3
threads = [1]
warmup = 0
repeats = 1
ranks = [2, 4]
[train]
preset = "tiny"
steps = 4
batch_size = 2
seq_len = 32
rank = 8
threads = 1
[[stage]]
name = "tiny"
[[run]]
optimizer = "adamw"
[[run]]
optimizer = "galore"
plugin = "rrf"
plugin_params = { power_iters = 1, oversample = 5 }
[[matrix]]
source = "generated"
rows = 30
cols = 20
spectrum = { kind = "exponential", rate = 0.3 }
[[matrix]]
source = "files"
path = "FILE"
[[method]]
plugin = "svd"
[[method]]
plugin = "rrf"
params = { power_iters = [0, 1], oversample = 5 }
"#;

fn suites(d: &Path) {
    let npy = d.join("suite-matrix.npy");
    std::fs::write(&npy, common::hand_npy("<f4", false, "(6, 4)", &[0; 96])).unwrap();
    let text = SUITE.replace("FILE", &npy.display().to_string());
    let registry = registry();
    let path = d.join("fuzz.toml");
    std::fs::write(&path, &text).unwrap();
    Suite::load(&path, &registry).expect("the unmutated suite is valid");
    let words: &[(&str, &[&str])] = &[
        ("generated", &["files", "recorded", "bogus"]),
        ("exponential", &["polynomial", "gap", "rank", "x"]),
        (
            "\"svd\"",
            &["\"rrf\"", "\"lanczos\"", "\"cuda-rrf\"", "\"\""],
        ),
        ("tiny", &["small", "llama-60m", "huge"]),
        ("adamw", &["galore", "sgd"]),
        ("threads", &["thread", "ranks"]),
        ("oversample", &["power_iters", "oversampling"]),
        ("[[run]]", &["[run]", "[[stage]]", ""]),
        ("=", &["==", ":", ""]),
    ];
    let mut m = Mutator::new(0x746f_6d6c);
    let mut t = Tally::default();
    for i in 0..CASES {
        let (mutant, desc) = m.text(text.as_bytes(), words);
        let case = begin("suite", i, &desc);
        std::fs::write(&path, mutant).unwrap();
        let result = Suite::load(&path, &registry).map_err(|e| e.to_string());
        t.record(&case, &path, result);
    }
    t.report("suites", CASES);
}

const BASELINE: &str = "matrix,method,params,rank,metric,value,rel_tol,abs_tol
exp0.3-30x20,svd,,2,err_fro,1.0,0.001,1e-6
exp0.3-30x20,svd,,4,sin_theta,2.5e-7,0.01,0.0001
exp0.3-30x20,rrf[power_iters=0],oversample=5 power_iters=0,4,err_fro,1.0625,0.001,1e-6
exp0.3-30x20,rrf[power_iters=1],oversample=5 power_iters=1,2,energy,0.75,0.0001,1e-6
";

fn baselines(d: &Path) {
    let registry = registry();
    let suite_text = r#"ranks = [2, 4]
[[matrix]]
source = "generated"
rows = 30
cols = 20
spectrum = { kind = "exponential", rate = 0.3 }
[[method]]
plugin = "svd"
[[method]]
plugin = "rrf"
params = { power_iters = [0, 1], oversample = 5 }
"#;
    let suite = Suite::parse(Path::new("suites/t.toml"), suite_text, &registry).unwrap();
    let path = d.join("baseline.csv");
    std::fs::write(&path, BASELINE).unwrap();
    let b = Baseline::read(&path).expect("the unmutated baseline is valid");
    b.check_suite(&suite).expect("the unmutated baseline fits");
    let words: &[(&str, &[&str])] = &[
        ("err_fro", &["err_spec", "speed", ""]),
        ("svd", &["rrf", "lanczos", "svd[q=1]"]),
        ("exp0.3-30x20", &["exp0.4-30x20", "poly-30x20", ""]),
        ("rel_tol", &["rel", "abs_tol"]),
        (",", &[";", ",,", ""]),
        ("\n", &["\r\n", "", "\n\n"]),
    ];
    let mut m = Mutator::new(0x0063_7376);
    let mut t = Tally::default();
    for i in 0..CASES {
        let (mutant, desc) = m.text(BASELINE.as_bytes(), words);
        let case = begin("baseline", i, &desc);
        std::fs::write(&path, mutant).unwrap();
        let result = Baseline::read(&path).and_then(|b| {
            b.check_suite(&suite)?;
            Ok(b)
        });
        let result = result.map_err(|e| format!("{e:#}"));
        if let Some(b) = t.record(&case, &path, result) {
            assert!(!b.entries.is_empty(), "{case}: no figures accepted");
            for e in &b.entries {
                let ok = e.value.is_finite()
                    && e.rel_tol.is_finite()
                    && e.abs_tol.is_finite()
                    && e.rel_tol >= 0.0
                    && e.abs_tol >= 0.0;
                assert!(ok, "{case}: accepted {e:?}");
            }
        }
    }
    t.report("baselines", CASES);
}

/// About 4 KB of text: ASCII with some multi-byte UTF-8.
fn corpus_text() -> String {
    (0..60)
        .map(|i| format!("line {i}: the quick brown fox — naïve café {}\n", i * 7))
        .collect()
}

fn corpora(d: &Path) {
    use std::io::Write as _;
    let text = corpus_text();
    let jsonl: String = text
        .lines()
        .map(|l| format!("{}\n", serde_json::json!({ "text": l })))
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let u16_path = d.join("valid.u16");
    let tokens: Vec<u32> = text.bytes().map(u32::from).collect();
    write_u16(&u16_path, &tokens).unwrap();
    let seeds: [(&str, Vec<u8>); 4] = [
        ("fuzz.txt", text.into_bytes()),
        ("fuzz.jsonl", jsonl.into_bytes()),
        ("fuzz.txt.gz", gz),
        ("fuzz.u16", std::fs::read(&u16_path).unwrap()),
    ];
    let words: &[(&str, &[&str])] = &[
        ("\"text\"", &["\"txt\"", "\"text\"\"", "1"]),
        ("line", &["\u{0}", "\u{ffff}"]),
    ];
    let mut m = Mutator::new(0x636f_7270);
    let mut t = Tally::default();
    for i in 0..CASES {
        let (name, valid) = &seeds[i % seeds.len()];
        let (mutant, desc) = match i % seeds.len() {
            0 | 1 => m.text(valid, words),
            _ => m.bytes(valid, 20),
        };
        let case = begin("corpus", i, &format!("{name}: {desc}"));
        let path = d.join(name);
        std::fs::write(&path, mutant).unwrap();
        let result = Corpus::new(&path)
            .load(&Tokenizer::Bytes, 256)
            .map_err(|e| e.to_string());
        if let Some(tokens) = t.record(&case, &path, result) {
            assert!(
                !tokens.is_empty() && tokens.iter().all(|&x| x < 256),
                "{case}"
            );
        }
    }
    t.report("corpora", CASES);

    // A gzip that inflates past the budget (concatenated members of 16 MiB
    // each, 320 MiB in all) is refused at the cap, as a stream.
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    member.write_all(&vec![b'a'; 16 << 20]).unwrap();
    let member = member.finish().unwrap();
    let path = d.join("bomb.txt.gz");
    std::fs::write(&path, member.repeat(20)).unwrap();
    begin("corpus", CASES, "a gzip inflating to 320 MiB");
    let msg = Corpus::new(&path)
        .load(&Tokenizer::Bytes, 256)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("inflates to more than") && msg.contains("bomb.txt.gz"),
        "{msg}"
    );
}

fn checkpoints(d: &Path) {
    let corpus = d.join("ck-corpus.txt");
    std::fs::write(&corpus, corpus_text().repeat(2)).unwrap();
    let registry = registry();
    let config = TrainConfig {
        preset: "tiny".into(),
        optimizer: OptimizerKind::Galore,
        plugin: "rrf".into(),
        plugin_params: toml::toml! { power_iters = 1 },
        rank: 4,
        update_proj_gap: 2,
        steps: 3,
        batch_size: 2,
        seq_len: 16,
        threads: 1,
        eval_every: 0,
        checkpoint_every: 1,
        corpus: Some(corpus.clone()),
        ..TrainConfig::default()
    };
    let run = d.join("ck-run");
    harness::training::train(config, &registry, &run, None, false).unwrap();
    let valid = run.join("checkpoints/step-1");
    let files = [
        "trainer.json",
        "model.safetensors",
        "optimizer.safetensors",
        "config.json",
    ];
    let originals: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(valid.join(f)).unwrap())
        .collect();
    let words: &[(&str, &[&str])] = &[
        ("galore", &["adamw", "sgd"]),
        ("\"rrf\"", &["\"svd\"", "\"lanczos\"", "\"\""]),
        ("tiny", &["small", "llama-60m", "nano"]),
        ("next_step", &["step", "next"]),
        ("F32", &["F16", "I64", "XYZ"]),
        ("exp_avg_sq", &["exp_avg", "v"]),
    ];
    let mut m = Mutator::new(0x636b_7074);
    let mut t = Tally::default();
    let ck = d.join("ck");
    let out = d.join("ck-out");
    // The safetensors files' length prefix and first bytes set to extremes.
    let mut fixed: Vec<(usize, Vec<u8>, String)> = Vec::new();
    for which in [1, 2] {
        for (bytes, desc) in sweep(&originals[which]) {
            if desc.starts_with("u64") {
                fixed.push((which, bytes, desc));
            }
        }
    }
    let cases = CHECKPOINT_CASES + fixed.len();
    for i in 0..cases {
        let which = fixed.get(i).map_or(i % 3, |f| f.0);
        let original = &originals[which];
        let (mutant, desc) = if let Some((_, bytes, desc)) = fixed.get(i) {
            (bytes.clone(), desc.clone())
        } else if which == 0 {
            m.text(original, words)
        } else {
            let n = u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
            if m.below(2) == 0 {
                m.bytes(original, 8 + n)
            } else {
                let (header, desc) = m.text(&original[8..8 + n], words);
                let (data, how) = reshaped_data(&mut m, &original[8 + n..]);
                (frame_st(&header, &data), format!("header {desc}, {how}"))
            }
        };
        let case = begin("checkpoint", i, &format!("{}: {desc}", files[which]));
        for p in [&ck, &out] {
            if p.exists() {
                std::fs::remove_dir_all(p).unwrap();
            }
        }
        std::fs::create_dir_all(&ck).unwrap();
        for (j, f) in files.iter().enumerate() {
            let bytes = if j == which { &mutant } else { &originals[j] };
            std::fs::write(ck.join(f), bytes).unwrap();
        }
        let result = resume_and_step(&ck, &registry, &out);
        t.record(&case, &ck, result);
    }
    t.report("checkpoints", cases);
}

/// Resumes as `lab train --resume` does and, if accepted, runs one step.
/// A step's own failure (a non-finite loss) names the step, not the file:
/// it is returned naming the checkpoint it resumed.
fn resume_and_step(ck: &Path, registry: &Registry, out: &Path) -> Result<(), String> {
    let mut session =
        harness::training::resume_session(ck, registry, out).map_err(|e| format!("{e:#}"))?;
    if session.next_step() < session.config.steps {
        session
            .step()
            .map_err(|e| format!("{}: step after resuming: {e}", ck.display()))?;
    }
    Ok(())
}
