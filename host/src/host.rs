//! Glue: the generated host traits implemented over the domain layer.

use crate::ctx::{AioFs, AioFsView};
use wasmtime::component::Linker;

/// Add every `aiofs:fs` interface to `linker`.
///
/// The store's `Config` needs `wasm_component_model_async(true)`.
pub fn add_to_linker<T: AioFsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let _ = (linker, std::marker::PhantomData::<AioFs>);
    todo!()
}
