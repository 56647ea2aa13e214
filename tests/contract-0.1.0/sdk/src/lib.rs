//! # synchost-sdk: write a synchost connector in Rust
//!
//! A connector is a WebAssembly component that teaches synchost one platform.
//! It implements [`Connector`] and hands its type to [`export_connector!`];
//! the SDK hides the generated WIT bindings. Build it with
//! `cargo build --target wasm32-wasip2 --release` and load the `.wasm` into
//! synchost.
//!
//! A connector never holds a credential: it writes a placeholder made by
//! [`secret`] (or declares an [`AuthScheme`] in its descriptor) and the host
//! substitutes the value in the outgoing request, towards declared hosts only.
//! It makes HTTP calls only through [`http`], which the host checks, rate
//! limits and logs.
//!
//! ```no_run
//! use synchost_sdk::prelude::*;
//!
//! struct Items {
//!     base: String,
//! }
//!
//! impl Connector for Items {
//!     fn describe() -> Descriptor {
//!         Descriptor::new("items", env!("CARGO_PKG_VERSION"))
//!             .entities(["items"])
//!             .hosts(["https://api.example.com"])
//!             .auth(AuthScheme::Bearer("items_token".into()))
//!             .capabilities(Capabilities::READ)
//!     }
//!
//!     fn configure(settings: Settings) -> Result<Self, ConnectorError> {
//!         Ok(Items { base: settings.get_or("base_url", "https://api.example.com") })
//!     }
//!
//!     fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
//!         Ok(EntitySchema::new(entity).field("name", FieldType::Text))
//!     }
//!
//!     fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
//!         let mut url = format!("{}/items?limit={}", self.base, req.page_size);
//!         if let Some(after) = &req.cursor {
//!             url.push_str(&format!("&after={after}"));
//!         }
//!         let body: serde_json::Value = http::get(&url).send_json()?;
//!         let records = body["items"]
//!             .as_array()
//!             .into_iter()
//!             .flatten()
//!             .map(|item| {
//!                 Record::new(item["id"].as_str().unwrap_or_default())
//!                     .field("name", FieldValue::Text(item["name"].as_str().unwrap_or_default().into()))
//!             })
//!             .collect();
//!         Ok(Page::new(records).next(body["next"].as_str().map(String::from)))
//!     }
//! }
//!
//! synchost_sdk::export_connector!(Items);
//! ```

pub mod builders;
pub mod cursor;
pub mod errors;
pub mod http;
pub mod log;
pub mod settings;
pub mod signature;
pub mod time;

#[doc(hidden)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "synchost:connector/connector@0.1.0",
        default_bindings_module: "synchost_sdk::__bindings",
        pub_export_macro: true,
        export_macro_name: "__export_bindings",
        additional_derives: [PartialEq],
    });
}

pub use __bindings::exports::synchost::connector::api::Guest as __Guest;
pub use __bindings::synchost::connector::types::{
    AuthScheme, Capabilities, ChangeEvent, ChangeKind, ConflictInfo, ConnectorError, DeleteOp,
    Descriptor, EntitySchema, Field, FieldSchema, FieldType, FieldValue, Page, RateHint,
    RateLimitedInfo, ReadRequest, Record, SettingSpec, UpdateOp, WebhookRequest, WriteOp, Written,
};
pub use settings::Settings;

/// The contract version this SDK builds connectors against.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The outcome of one write op.
pub type OpResult = Result<Written, ConnectorError>;

/// What a connector author implements.
///
/// The host creates a fresh instance for every run and calls
/// [`Connector::configure`] once with the job's connection settings before
/// any other method, so the value returned there is the connector's state
/// for the run.
pub trait Connector: Sized + 'static {
    /// Name, version, entities, capabilities, hosts, auth scheme and rate hint.
    /// Called without configuration: it must not make requests.
    fn describe() -> Descriptor;

    /// Reads the job's connection settings (base URL, ids, secret names).
    fn configure(settings: Settings) -> Result<Self, ConnectorError>;

    /// The fields of `entity` with their types.
    fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError>;

    /// One page of records. `req.cursor` is where the last page ended;
    /// `req.since` is the checkpoint of an incremental read.
    fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError>;

    /// Applies `ops` in order; one outcome per op.
    fn write(&self, entity: &str, ops: Vec<WriteOp>) -> Result<Vec<OpResult>, ConnectorError> {
        let _ = (entity, ops);
        Err(errors::unsupported("write"))
    }

    /// Verifies a webhook delivery's signature and parses its change events.
    fn webhook(&self, req: WebhookRequest) -> Result<Vec<ChangeEvent>, ConnectorError> {
        let _ = req;
        Err(errors::unsupported("webhook"))
    }
}

/// Makes the placeholder that the host replaces with the secret `name`.
pub fn secret(name: &str) -> String {
    format!("{{{{secret:{name}}}}}")
}

/// Everything a connector usually needs, in one `use`.
pub mod prelude {
    pub use crate::http;
    pub use crate::{
        errors, secret, AuthScheme, Capabilities, ChangeEvent, ChangeKind, Connector,
        ConnectorError, Descriptor, EntitySchema, Field, FieldType, FieldValue, OpResult, Page,
        ReadRequest, Record, Settings, WebhookRequest, WriteOp, Written,
    };
}

#[doc(hidden)]
pub mod __runtime {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static INSTANCE: RefCell<Option<Box<dyn std::any::Any>>> = const { RefCell::new(None) };
    }

    pub fn configure<C: Connector>(settings: Vec<(String, String)>) -> Result<(), ConnectorError> {
        let connector = C::configure(Settings::new(settings))?;
        INSTANCE.with(|cell| *cell.borrow_mut() = Some(Box::new(connector)));
        Ok(())
    }

    pub fn with<C: Connector, T>(
        f: impl FnOnce(&C) -> Result<T, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        INSTANCE.with(
            |cell| match cell.borrow().as_ref().and_then(|b| b.downcast_ref::<C>()) {
                Some(connector) => f(connector),
                None => Err(ConnectorError::InvalidInput(
                    "configure must be called before any other method".into(),
                )),
            },
        )
    }
}

/// Exports `$ty`, an implementation of [`Connector`], as the component's API.
#[macro_export]
macro_rules! export_connector {
    ($ty:ty) => {
        const _: () = {
            struct __SynchostExport;

            impl $crate::__Guest for __SynchostExport {
                fn describe() -> $crate::Descriptor {
                    <$ty as $crate::Connector>::describe()
                }
                fn configure(settings: Vec<(String, String)>) -> Result<(), $crate::ConnectorError> {
                    $crate::__runtime::configure::<$ty>(settings)
                }
                fn schema(entity: String) -> Result<$crate::EntitySchema, $crate::ConnectorError> {
                    $crate::__runtime::with::<$ty, _>(|c| $crate::Connector::schema(c, &entity))
                }
                fn read(req: $crate::ReadRequest) -> Result<$crate::Page, $crate::ConnectorError> {
                    $crate::__runtime::with::<$ty, _>(|c| $crate::Connector::read(c, req))
                }
                fn write(
                    entity: String,
                    ops: Vec<$crate::WriteOp>,
                ) -> Result<Vec<$crate::OpResult>, $crate::ConnectorError> {
                    $crate::__runtime::with::<$ty, _>(|c| $crate::Connector::write(c, &entity, ops))
                }
                fn webhook(
                    req: $crate::WebhookRequest,
                ) -> Result<Vec<$crate::ChangeEvent>, $crate::ConnectorError> {
                    $crate::__runtime::with::<$ty, _>(|c| $crate::Connector::webhook(c, req))
                }
            }

            // Only a wasm build exports: the export names are not valid native
            // symbols, and a native build (unit tests of the connector's pure
            // code) has nothing to export to.
            #[cfg(target_arch = "wasm32")]
            $crate::__bindings::__export_bindings!(__SynchostExport with_types_in $crate::__bindings);
        };
    };
}
