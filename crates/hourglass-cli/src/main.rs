//! The `hourglass` command: parses arguments, calls the library, prints. No logic lives here.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Autoencoders on real data: train, evaluate, reconstruct, encode and decode.
#[derive(Parser)]
#[command(name = "hourglass", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an autoencoder on a data set and save it as one .safetensors file.
    Train(Box<commands::train::Args>),
    /// Reconstruction error on a data set, next to the mean-sample and PCA baselines.
    Eval(commands::eval::Args),
    /// Draw originals above their reconstructions as a PNG grid.
    Reconstruct(commands::reconstruct::Args),
    /// Write each sample's latent code to CSV or NPY.
    Encode(commands::encode::Args),
    /// Decode latent codes (CSV or NPY) back to samples (NPY) or images (PNG).
    Decode(commands::decode::Args),
    /// Anomaly scores (reconstruction error) per sample, flags above a threshold, ROC AUC with labels.
    Score(commands::score::Args),
    /// Clean up noisy samples with a (denoising) model; with --noise, corrupt clean data first and
    /// report PSNR before and after.
    Denoise(commands::denoise::Args),
    /// Label data from a few known labels by nearest neighbours in latent space (vs pixels, PCA).
    Label(commands::label::Args),
    /// Fill missing values (empty or NaN cells) of a table by iterated reconstruction.
    Impute(commands::impute::Args),
    /// Fill a region of each image (a rectangle or a mask file) by iterated reconstruction.
    Inpaint(commands::inpaint::Args),
    /// Compress data to a .hgz file: quantised, entropy-coded latent codes.
    Compress(commands::compress::CompressArgs),
    /// Restore data from a .hgz file with the model that compressed it.
    Decompress(commands::compress::DecompressArgs),
    /// Draw the training and validation loss of each epoch from a training log.
    Curves(commands::curves::Args),
    /// Draw the latent space in 2-D (the codes, or their principal components), coloured by label.
    LatentMap(commands::latent_map::Args),
    /// Draw new samples from a variational model: decode codes drawn from N(0, I).
    Sample(commands::sample::Args),
    /// Decode the straight line between two samples' latent codes, as a strip of images.
    Interpolate(commands::interpolate::Args),
    /// Train a conv autoencoder on the shipped Fashion-MNIST sample and show what it learned.
    Demo(commands::demo::Args),
    /// Export a model to ONNX, with its scaling and score built in: reconstructions, codes or
    /// anomaly scores from raw rows, in any ONNX runtime.
    Export(commands::onnx::Args),
    /// Serve models over HTTP: scores, codes and reconstructions, with micro-batching, metrics,
    /// reloads (SIGHUP) and load shedding.
    Serve(commands::serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Output piped into a reader that stops early (`hourglass eval --json | head`) ends the
    // process quietly, as `cat` does, instead of a failed print panicking: Rust ignores SIGPIPE
    // by default. The service keeps ignoring it: a client that hangs up must not stop it.
    #[cfg(unix)]
    if !matches!(cli.command, Command::Serve(_)) {
        // SAFETY: restores the default disposition of one signal before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // The service logs one line per request by default; the other commands only warnings.
    let default_filter = match cli.command {
        Command::Serve(_) => "warn,hourglass_serve=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOURGLASS_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person: logs piped to a file or a collector stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // A panic is a bug in hourglass or below it; still, the user gets one line and an exit code.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error (please report): {info}");
    }));
    let result = std::panic::catch_unwind(|| match cli.command {
        Command::Train(args) => commands::train::run(*args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Reconstruct(args) => commands::reconstruct::run(args),
        Command::Encode(args) => commands::encode::run(args),
        Command::Decode(args) => commands::decode::run(args),
        Command::Score(args) => commands::score::run(args),
        Command::Denoise(args) => commands::denoise::run(args),
        Command::Label(args) => commands::label::run(args),
        Command::Impute(args) => commands::impute::run(args),
        Command::Inpaint(args) => commands::inpaint::run(args),
        Command::Compress(args) => commands::compress::run_compress(args),
        Command::Decompress(args) => commands::compress::run_decompress(args),
        Command::Curves(args) => commands::curves::run(args),
        Command::LatentMap(args) => commands::latent_map::run(args),
        Command::Sample(args) => commands::sample::run(args),
        Command::Interpolate(args) => commands::interpolate::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Export(args) => commands::onnx::run(args),
        Command::Serve(args) => commands::serve::run(args),
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::from(101),
    }
}
