//! aiofs guest crate (work in progress).
#![deny(missing_docs)]

/// Raw bindings generated from `wit/aiofs.wit` (world `aiofs:fs/command`).
#[allow(missing_docs, unsafe_code, reason = "generated")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "aiofs:fs/command",
        pub_export_macro: true,
        default_bindings_module: "aiofs::bindings",
        generate_all,
    });
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen::block_on;

    /// Print an error to stderr and turn the result into the shape `wasi:cli/run` wants.
    pub fn report<E: core::fmt::Display>(result: Result<(), E>) -> Result<(), ()> {
        result.map_err(|e| eprintln!("error: {e}"))
    }
}

/// Define the program's entry points from an `async fn() -> Result<(), E>` (`E: Display`).
#[macro_export]
macro_rules! main {
    ($run:path) => {
        #[doc(hidden)]
        struct __AiofsCommand;

        impl $crate::bindings::exports::wasi::cli::run::Guest for __AiofsCommand {
            async fn run() -> ::core::result::Result<(), ()> {
                $crate::__private::report($run().await)
            }
        }

        $crate::bindings::export!(__AiofsCommand with_types_in $crate::bindings);

        fn main() {
            if $crate::__private::report($crate::__private::block_on($run())).is_err() {
                ::std::process::exit(1);
            }
        }
    };
}
