//! What every fuzz target shares: the input goes through the same path a user's file takes, so
//! it is written to a file (on tmpfs when there is one) and read by the public API.

use std::path::PathBuf;

/// Writes `data` to a per-process scratch file named `name` and returns its path.
pub fn as_file(name: &str, data: &[u8]) -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("hourglass-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join(name);
    std::fs::write(&path, data).expect("scratch file");
    path
}

/// The small table model under `fuzz/seeds/`, for the readers that need a model beside the file.
pub fn seed_model() -> &'static hourglass::artifact::TrainedModel {
    static MODEL: std::sync::OnceLock<hourglass::artifact::TrainedModel> =
        std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds/table.safetensors");
        hourglass::artifact::TrainedModel::load(&path, &hourglass::device::Device::flex())
            .expect("fuzz/seeds/table.safetensors loads")
    })
}
