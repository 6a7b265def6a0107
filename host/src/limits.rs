//! Limits the embedder sets on what one store may ask of aiofs.

/// Caps on guest-controlled sizes and counts, per store. Hitting one returns
/// `quota` (or `name-too-long` for paths), never a trap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes one read call returns (`read`, `read-line` pieces, one stream chunk);
    /// also the most `read-all`, `read-lines` and `read-file` return in one call.
    pub max_read_bytes: u64,
    /// Most bytes one write call (`write`, `write-lines`, `write-file`) accepts.
    pub max_write_bytes: u64,
    /// Most files (including temporary ones) open at once in one store.
    pub max_open_files: usize,
    /// Most operations one store may have queued or running on the pool at once.
    pub max_pending_ops: usize,
    /// Longest guest path accepted, in bytes.
    pub max_path_len: usize,
    /// Most entries `listdir`/`scandir` return; larger directories fail with `quota`.
    pub max_dir_entries: usize,
    /// Most lines one `read-lines` call returns (a larger `max` is clamped).
    pub max_lines_per_call: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_read_bytes: 64 << 20,
            max_write_bytes: 64 << 20,
            max_open_files: 256,
            max_pending_ops: 256,
            max_path_len: 4096,
            max_dir_entries: 100_000,
            max_lines_per_call: 65_536,
        }
    }
}
