//! The step loop: a [`Session`] validates its config, loads the corpus,
//! initialises the weights and the optimizer, then runs steps (forward,
//! backward, the finiteness checks, recording, the update, evaluation and
//! checkpoints when due), each a function of the config and the step only.
//!
//! A session writes into an out dir ([`Session::new`]), or nothing at all
//! ([`Session::in_memory`], for tests: no csv, no checkpoints, no
//! recordings; a GaLore run's subspace rows are kept in memory instead,
//! [`Session::subspace_rows`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use subspace::Registry;

use super::accumulate::{batch_gradient, batch_loss};
use super::checkpoint::{refuse_existing_run, remove_partials, truncate_csv};
use super::config::TrainConfig;
use super::errors::{TrainError, io};
use super::memory::{peak_rss, reset_peak_rss};
use super::summary::{StepRow, SubspaceRow, TrainSummary, summarize};
use crate::data::Batches;
use crate::model::llama::{Activations, Checkpointing};
use crate::optim::{Optimizer, OptimizerKind, cosine_lr};
use crate::{LlamaConfig, ParamStore};

/// How far a run got: where a resumed session starts.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Progress {
    /// Steps done: the next step is this one.
    pub next_step: usize,
    pub tokens: u64,
    /// Wall seconds of the steps done (evaluations excluded).
    pub seconds_elapsed: f64,
}

/// A run in progress.
pub struct Session {
    pub config: TrainConfig,
    pub(super) model: LlamaConfig,
    pub(super) label: String,
    pub(super) params: ParamStore,
    pub(super) grads: ParamStore,
    pub(super) acts: Activations,
    pub(super) opt: Box<dyn Optimizer>,
    pub(super) data: Batches,
    pub(super) next_step: usize,
    pub(super) tokens: u64,
    pub(super) seconds_elapsed: f64,
    /// Where the run writes; `None` in memory.
    pub(super) out: Option<PathBuf>,
    pub(super) csv: Option<csv::Writer<File>>,
    /// `<out>/subspace.csv`, for a GaLore run with an out dir.
    pub(super) subspace_csv: Option<csv::Writer<File>>,
    /// A GaLore run's subspace rows, in memory (a session without an out
    /// dir).
    pub(super) subspace_rows: Vec<SubspaceRow>,
    /// Seconds this session spent in the subspace-quality log.
    pub(super) quality_seconds: f64,
    /// The gradient files this session recorded.
    pub(super) recorded: Vec<PathBuf>,
}

impl Session {
    /// Validates `config`, loads the corpus, initialises the weights and the
    /// optimizer, and opens `<out>/training.csv` (a new file). An `out`
    /// that already holds a run is refused, naming it and the fix.
    pub fn new(config: TrainConfig, registry: &Registry, out: &Path) -> Result<Self, TrainError> {
        refuse_existing_run(out)?;
        Self::start(config, registry, Some(out))
    }

    /// As [`Session::new`], writing nothing: rows go only to `run`'s
    /// callback and [`Session::step`]'s result. A config that asks for files
    /// (`checkpoint_every`, `checkpoint_at_end`, `record_steps`) is refused,
    /// naming the field.
    pub fn in_memory(config: TrainConfig, registry: &Registry) -> Result<Self, TrainError> {
        let asks = [
            ("checkpoint_every", config.checkpoint_every > 0),
            ("checkpoint_at_end", config.checkpoint_at_end),
            ("record_steps", !config.record_steps.is_empty()),
        ];
        if let Some((field, _)) = asks.iter().find(|(_, asked)| *asked) {
            return Err(TrainError::Config {
                field: (*field).into(),
                reason: "an in-memory session writes no files; give it an out dir".into(),
            });
        }
        Self::start(config, registry, None)
    }

    fn start(
        config: TrainConfig,
        registry: &Registry,
        out: Option<&Path>,
    ) -> Result<Self, TrainError> {
        config.validate(registry)?;
        let model = config.model()?;
        let params = ParamStore::init(&model, config.seed);
        let opt = config.optimizer.build(&config, registry, params.layout())?;
        Self::assemble(config, model, params, opt, out, None)
    }

    /// The session of a fresh run (`resumed` = `None`) or of one resumed
    /// where `resumed` says, which appends to `<out>/training.csv` (and a
    /// GaLore run's `<out>/subspace.csv`).
    pub(super) fn assemble(
        config: TrainConfig,
        model: LlamaConfig,
        params: ParamStore,
        opt: Box<dyn Optimizer>,
        out: Option<&Path>,
        resumed: Option<Progress>,
    ) -> Result<Self, TrainError> {
        let tokens_stream = load_tokens(&config, &model)?;
        let data = Batches::new(tokens_stream, config.seed);
        for (split, len) in [
            ("training", data.train_tokens().len()),
            ("held-out", data.held_out_tokens().len()),
        ] {
            if len <= config.seq_len {
                return Err(TrainError::Data {
                    path: corpus_name(&config),
                    reason: format!(
                        "the {split} split has {len} tokens, too few for seq_len = {}; use a \
                         bigger corpus or a shorter seq_len",
                        config.seq_len
                    ),
                });
            }
        }
        let galore = config.optimizer == OptimizerKind::Galore;
        let (csv, subspace_csv) = match out {
            Some(out) => {
                remove_partials(out)?;
                if let Some(p) = resumed {
                    truncate_csv(out, "training.csv", p.next_step)?;
                    if galore {
                        truncate_csv(out, "subspace.csv", p.next_step)?;
                    }
                }
                let csv = open_csv(out, "training.csv", resumed.is_some())?;
                let subspace = galore
                    .then(|| open_csv(out, "subspace.csv", resumed.is_some()))
                    .transpose()?;
                (Some(csv), subspace)
            }
            None => (None, None),
        };
        let progress = resumed.unwrap_or_default();
        let mode = if config.activation_checkpointing {
            Checkpointing::Layers
        } else {
            Checkpointing::Off
        };
        // (b, T): one micro-batch's activations.
        let acts = Activations::with_checkpointing(
            &model,
            config.micro_batch_size(),
            config.seq_len,
            mode,
        );
        let grads = ParamStore::zeros(params.layout());
        Ok(Self {
            label: config.label(),
            config,
            model,
            params,
            grads,
            acts,
            opt,
            data,
            next_step: progress.next_step,
            tokens: progress.tokens,
            seconds_elapsed: progress.seconds_elapsed,
            out: out.map(Path::to_path_buf),
            csv,
            subspace_csv,
            subspace_rows: Vec::new(),
            quality_seconds: 0.0,
            recorded: Vec::new(),
        })
    }

    /// The run's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The next step to run (0-based).
    pub fn next_step(&self) -> usize {
        self.next_step
    }

    /// The weights.
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// The model config.
    pub fn model(&self) -> &LlamaConfig {
        &self.model
    }

    /// The subspace rows of an in-memory GaLore session so far (empty with
    /// an out dir: they go to `subspace.csv`).
    pub fn subspace_rows(&self) -> &[SubspaceRow] {
        &self.subspace_rows
    }

    /// The out dir, or an error naming `field` (what asked for a file) in
    /// an in-memory session.
    pub(super) fn out_dir(&self, field: &str) -> Result<&Path, TrainError> {
        self.out.as_deref().ok_or_else(|| TrainError::Config {
            field: field.into(),
            reason: "an in-memory session writes no files; give it an out dir".into(),
        })
    }

    /// Runs one step: forward and backward (per micro-batch, see
    /// [`super::accumulate`]), the finiteness checks, gradient recording,
    /// the update, the evaluation and checkpoint when due; writes its row to
    /// `training.csv` (with an out dir) and returns it.
    pub fn step(&mut self) -> Result<StepRow, TrainError> {
        let c = &self.config;
        let step = self.next_step;
        let (b, t) = (c.batch_size, c.seq_len);
        let (tokens, targets) = self.data.train_batch(step as u64, b, t);
        let lr = cosine_lr(step, c.steps, c.warmup(), c.lr, c.min_lr_ratio);

        let start = Instant::now();
        self.grads.as_mut_slice().fill(0.0);
        let seconds_zero = start.elapsed().as_secs_f64();
        let pass = batch_gradient(
            &mut self.grads,
            &self.params,
            &self.model,
            &tokens,
            &targets,
            t,
            &mut self.acts,
            step,
        )?;
        let (loss, seconds_forward) = (pass.loss, pass.seconds_forward);
        let seconds_backward = seconds_zero + pass.seconds_backward;
        let grad_norm = check_finite(&self.grads, step)?;
        if c.record_steps.contains(step) {
            let path = self.record(step)?;
            self.recorded.push(path);
        }

        let start = Instant::now();
        self.opt.step(&mut self.params, &self.grads, lr)?;
        // The quality log's own time is kept out of every timed column.
        let seconds_quality = self.opt.last_step_quality().map_or(0.0, |q| q.seconds);
        let seconds_optimizer = (start.elapsed().as_secs_f64() - seconds_quality).max(0.0);
        let seconds_subspace = self.opt.last_step_timing().seconds;
        self.seconds_elapsed += seconds_forward + seconds_backward + seconds_optimizer;
        self.quality_seconds += seconds_quality;
        self.tokens += (b * t) as u64;
        self.next_step = step + 1;

        let last = self.next_step == self.config.steps;
        let eval_due = last
            || (self.config.eval_every > 0
                && self.next_step.is_multiple_of(self.config.eval_every));
        let eval_loss = eval_due.then(|| self.eval());
        let row = StepRow {
            run: self.label.clone(),
            step,
            tokens: self.tokens,
            train_loss: loss,
            eval_loss,
            lr,
            grad_norm,
            seconds_forward,
            seconds_backward,
            seconds_subspace,
            seconds_update: (seconds_optimizer - seconds_subspace).max(0.0),
            seconds_elapsed: self.seconds_elapsed,
            optimizer_state_bytes: self.opt.state_bytes(),
        };
        if let (Some(out), Some(csv)) = (&self.out, &mut self.csv) {
            let csv_path = out.join("training.csv");
            csv.serialize(&row).map_err(|e| TrainError::Io {
                path: csv_path.display().to_string(),
                cause: std::io::Error::other(e),
            })?;
            csv.flush().map_err(io(&csv_path))?;
        }
        self.log_subspace(step)?;
        let every = self.config.checkpoint_every;
        if (every > 0 && self.next_step.is_multiple_of(every))
            || (last && self.config.checkpoint_at_end)
        {
            self.checkpoint()?;
        }
        Ok(row)
    }

    /// Writes the optimizer's subspace-quality rows of `step` to
    /// subspace.csv (flushed), or keeps them in memory without an out dir.
    fn log_subspace(&mut self, step: usize) -> Result<(), TrainError> {
        let Some(quality) = self.opt.last_step_quality() else {
            return Ok(());
        };
        let rows = quality.rows.iter().map(|q| SubspaceRow {
            run: self.label.clone(),
            step,
            tensor: q.tensor.clone(),
            rows: q.rows,
            cols: q.cols,
            rank: q.rank,
            refreshed: q.refreshed,
            captured: q.captured,
            optimal: q.optimal,
            ratio: q.ratio(),
            agreement: q.agreement,
            interval: q.interval,
        });
        match (&self.out, &mut self.subspace_csv) {
            (Some(out), Some(csv)) => {
                let path = out.join("subspace.csv");
                for row in rows {
                    csv.serialize(&row).map_err(|e| TrainError::Io {
                        path: path.display().to_string(),
                        cause: std::io::Error::other(e),
                    })?;
                }
                csv.flush().map_err(io(&path))?;
            }
            _ => self.subspace_rows.extend(rows),
        }
        Ok(())
    }

    /// Mean held-out loss over `eval_batches` batches (each run in
    /// micro-batches as training runs them).
    pub fn eval(&mut self) -> f32 {
        let (b, t) = (self.config.batch_size, self.config.seq_len);
        let total: f64 = (0..self.config.eval_batches)
            .map(|i| {
                let (tokens, targets) = self.data.eval_batch(i, b, t);
                f64::from(batch_loss(
                    &self.params,
                    &self.model,
                    &tokens,
                    &targets,
                    t,
                    &mut self.acts,
                ))
            })
            .sum();
        (total / self.config.eval_batches as f64) as f32
    }

    /// Runs the remaining steps inside a pool of `config.threads` threads,
    /// calling `on_step` after each, and writes `memory.json` and
    /// `train.json` (with an out dir).
    pub fn run(
        mut self,
        mut on_step: impl FnMut(&StepRow) + Send,
    ) -> Result<TrainSummary, TrainError> {
        let threads = self.config.threads;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| TrainError::Config {
                field: "threads".into(),
                reason: e.to_string(),
            })?;
        reset_peak_rss();
        let mut rows = Vec::with_capacity(self.config.steps);
        pool.install(|| -> Result<(), TrainError> {
            while self.next_step < self.config.steps {
                let row = self.step()?;
                on_step(&row);
                rows.push(row);
            }
            Ok(())
        })?;
        let memory = self.memory(peak_rss(), pool.current_num_threads());
        let summary = summarize(&mut self, rows, memory);
        if let Some(out) = &self.out {
            for (name, value) in [
                ("memory.json", serde_json::to_string_pretty(&summary.memory)),
                ("train.json", serde_json::to_string_pretty(&summary)),
            ] {
                let path = out.join(name);
                std::fs::write(&path, value.expect("json")).map_err(io(&path))?;
            }
        }
        Ok(summary)
    }
}

/// `<out>/<name>` (training.csv, subspace.csv): a new file, or appended to
/// (no second header) when resuming into a directory that has one (cut
/// back by [`truncate_csv`]).
fn open_csv(out: &Path, name: &str, append: bool) -> Result<csv::Writer<File>, TrainError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let csv_path = out.join(name);
    let existing = append && csv_path.exists();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(existing)
        .write(true)
        .truncate(!existing)
        .open(&csv_path)
        .map_err(io(&csv_path))?;
    Ok(csv::WriterBuilder::new()
        .has_headers(!existing)
        .from_writer(file))
}

/// ‖g‖₂ (f64, in a fixed order), or the first non-finite tensor by name.
fn check_finite(grads: &ParamStore, step: usize) -> Result<f64, TrainError> {
    let mut sum = 0.0f64;
    for s in grads.layout().specs() {
        let g = grads.slice(&s.name).expect("a layout name");
        if let Some(&bad) = g.iter().find(|x| !x.is_finite()) {
            return Err(TrainError::NonFinite {
                step,
                what: format!("the gradient of {}", s.name),
                value: bad,
            });
        }
        sum += g.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>();
    }
    Ok(sum.sqrt())
}

fn corpus_name(config: &TrainConfig) -> String {
    match &config.corpus {
        Some(p) => p.display().to_string(),
        None => crate::data::default_corpus_path().display().to_string(),
    }
}

/// The run's token stream.
fn load_tokens(config: &TrainConfig, model: &LlamaConfig) -> Result<Vec<u32>, TrainError> {
    use crate::data::{Corpus, Tokenizer};
    let tokenizer = match &config.tokenizer {
        Some(path) => Tokenizer::from_file(path)?,
        None => Tokenizer::Bytes,
    };
    let corpus = match &config.corpus {
        Some(path) => Corpus::new(path),
        None => Corpus::python_docs(),
    };
    Ok(corpus.load(&tokenizer, model.vocab_size)?)
}
