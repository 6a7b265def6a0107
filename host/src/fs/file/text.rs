//! Text operations on an open file: UTF-8 with universal newlines on reading, counted in
//! characters on writing (see the module docs of `fs::file` for invalid UTF-8).

use super::{File, Need, clamp, translate_newlines};
use crate::error::{ErrorCode, FsResult};
use crate::fs::held::HeapSize;
use crate::obs::OpKind;

#[allow(
    missing_docs,
    reason = "each method is documented in wit/aiofs.wit under the same name"
)]
impl File {
    pub async fn read_text(&self, n: u64) -> FsResult<String> {
        self.observe(OpKind::Read)
            .run(async {
                let hint = n.saturating_mul(4);
                self.read_op(Need::ReadText, hint, move |cur, file, limits| {
                    let limit = clamp(u64::MAX, limits.max_read_bytes);
                    cur.read_chars(file, clamp(n, limits.max_read_bytes), limit)
                })
                .await
            })
            .await
    }
    pub async fn read_all_text(&self) -> FsResult<String> {
        self.observe(OpKind::Read)
            .run(async {
                self.read_op(Need::ReadText, u64::MAX, |cur, file, limits| {
                    let mut data = cur.peek_all(file, limits.max_read_bytes)?;
                    let len = data.len();
                    // Translating first is safe: `\r` and `\n` never occur inside a character.
                    translate_newlines(&mut data);
                    // Charged at its length once returned: `\r\n`s made it shorter.
                    data.shrink_to_fit();
                    let text =
                        String::from_utf8(data).map_err(|_| ErrorCode::IllegalByteSequence)?;
                    cur.skip_all(len);
                    Ok(text)
                })
                .await
            })
            .await
    }
    pub async fn read_line_text(&self) -> FsResult<String> {
        self.observe(OpKind::Read)
            .run(async {
                self.read_op(Need::ReadText, u64::MAX, |cur, file, limits| {
                    cur.read_line_text(file, clamp(u64::MAX, limits.max_read_bytes))
                })
                .await
            })
            .await
    }
    pub async fn read_lines_text(&self, max: u32) -> FsResult<Vec<String>> {
        self.observe(OpKind::Read)
            .run(async {
                self.read_lines_op(Need::ReadText, max, move |cur, file, limits| {
                    let max = max.min(limits.max_lines_per_call) as usize;
                    cur.read_lines_text(file, max, clamp(u64::MAX, limits.max_read_bytes))
                })
                .await
            })
            .await
    }
    pub async fn write_text(&self, text: String) -> FsResult<u64> {
        self.observe(OpKind::Write)
            .bytes(text.len() as u64)
            .run(async {
                let append = self.inner.mode.append;
                self.write_op(Need::WriteText, text.len(), None, move |cur, file, _| {
                    cur.write(file, text.as_bytes(), append)?;
                    Ok(text.chars().count() as u64)
                })
                .await
            })
            .await
    }
    pub async fn write_lines_text(&self, lines: Vec<String>) -> FsResult<u64> {
        self.observe(OpKind::Write)
            .bytes(lines.iter().map(|l| l.len() as u64).sum())
            .run(async {
                let len = lines.iter().map(String::len).sum();
                self.check_write_len(len)?;
                // The lines as the host holds them: one allocation each.
                let held = self.inner.fs.charge(lines.heap_size())?;
                let append = self.inner.mode.append;
                self.write_op(Need::WriteText, len, Some(held), move |cur, file, _| {
                    cur.write_parts(file, lines.iter().map(String::as_bytes), append)?;
                    Ok(lines.iter().map(|l| l.chars().count() as u64).sum())
                })
                .await
            })
            .await
    }
}
