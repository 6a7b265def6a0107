//! Lets Wizer read the state of a component instance running in wasmtime (what
//! wasmtime-wizer's `wasmtime` feature provides; that feature would turn on wasmtime
//! features the rest of the workspace does not use, and so compile wasmtime twice).

use wasmtime::Store;
use wasmtime::component::{Instance, Lift, WasmList};
use wasmtime_wizer::ComponentInstanceState;

/// A store and the instance being snapshotted.
pub struct WasmtimeWizerComponent<'a, T: 'static> {
    /// The store that owns `instance`.
    pub store: &'a mut Store<T>,
    /// The initialised instance.
    pub instance: Instance,
}

impl<T: Send> WasmtimeWizerComponent<'_, T> {
    /// Call the nullary function `func` of the exported instance `instance` (an export
    /// Wizer's instrumentation added, so it exists) and hand its result to `with`.
    async fn call<R: Lift + Send + Sync + 'static, O>(
        &mut self,
        instance: &str,
        func: &str,
        with: impl FnOnce(&Store<T>, R) -> O,
    ) -> O {
        let store = &mut *self.store;
        let (_, inst) = self
            .instance
            .get_export(&mut *store, None, instance)
            .unwrap_or_else(|| panic!("instrumented component lacks export `{instance}`"));
        let (_, idx) = self
            .instance
            .get_export(&mut *store, Some(&inst), func)
            .unwrap_or_else(|| panic!("instrumented component lacks `{instance}#{func}`"));
        let typed = self
            .instance
            .get_typed_func::<(), (R,)>(&mut *store, idx)
            .unwrap_or_else(|e| panic!("`{instance}#{func}` has an unexpected type: {e}"));
        let (value,) = typed
            .call_async(&mut *store, ())
            .await
            .unwrap_or_else(|e| panic!("`{instance}#{func}` failed: {e:?}"));
        with(store, value)
    }
}

impl<T: Send> ComponentInstanceState for WasmtimeWizerComponent<'_, T> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        self.call(instance, func, |store, list: WasmList<u8>| {
            contents(list.as_le_slice(store))
        })
        .await
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func, |_, v: i32| v).await
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func, |_, v: i64| v).await
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call(instance, func, |_, v: f32| v.to_bits()).await
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call(instance, func, |_, v: f64| v.to_bits()).await
    }
}
