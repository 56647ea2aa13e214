//! Components built against contract 0.1.0, run by a host whose own types are
//! 0.2.0's: every value that crosses is converted here, field by field, and
//! the 0.1.0 imports are served by the 0.2.0 ones.
//!
//! What 0.1.0 cannot say takes the meaning 0.1.0 gave it: its checkpoints are
//! timestamps when they parse as RFC 3339 and opaque otherwise (see
//! [`Descriptor::checkpoint`] and `sync::side`), it sends no more than the
//! host chooses per write call, its entities are its descriptor's, and its
//! write outcomes are never `unknown`.

use super::bindings::v0_1_0::synchost::connector as old;
use super::bindings::v0_2_0::synchost::connector as new;
use super::imports::HostState;

/// A value of one contract version's type as the other version's.
pub(super) trait Adapt<T> {
    fn adapt(self) -> T;
}

macro_rules! same {
    ($($t:ty),*) => { $(impl Adapt<$t> for $t { fn adapt(self) -> $t { self } })* };
}
same!(
    String,
    bool,
    u8,
    u16,
    u32,
    u64,
    f64,
    (),
    new::types::WriteOutcome
);

impl<A: Adapt<B>, B> Adapt<Vec<B>> for Vec<A> {
    fn adapt(self) -> Vec<B> {
        self.into_iter().map(Adapt::adapt).collect()
    }
}

impl<A: Adapt<B>, B> Adapt<Option<B>> for Option<A> {
    fn adapt(self) -> Option<B> {
        self.map(Adapt::adapt)
    }
}

impl<A: Adapt<C>, B: Adapt<D>, C, D> Adapt<(C, D)> for (A, B) {
    fn adapt(self) -> (C, D) {
        (self.0.adapt(), self.1.adapt())
    }
}

/// A record type whose fields are the same in both versions.
macro_rules! record {
    ($from:path => $to:path { $($f:ident),* $(,)? }) => {
        impl Adapt<$to> for $from {
            fn adapt(self) -> $to {
                type To = $to;
                To { $($f: self.$f.adapt()),* }
            }
        }
    };
}

/// A variant or enum whose cases are the same in both versions.
macro_rules! variant {
    ($from:path => $to:path { $($case:ident $(($x:ident))?),* $(,)? }) => {
        impl Adapt<$to> for $from {
            fn adapt(self) -> $to {
                type From = $from;
                type To = $to;
                match self {
                    $(From::$case $(($x))? => To::$case $(($x.adapt()))?),*
                }
            }
        }
    };
}

/// Both directions at once, for what goes in and comes out.
macro_rules! both {
    (record $a:path, $b:path { $($f:ident),* $(,)? }) => {
        record!($a => $b { $($f),* });
        record!($b => $a { $($f),* });
    };
    (variant $a:path, $b:path { $($case:ident $(($x:ident))?),* $(,)? }) => {
        variant!($a => $b { $($case $(($x))?),* });
        variant!($b => $a { $($case $(($x))?),* });
    };
}

// ---- what a 0.1.0 connector is given and gives back ------------------------

both!(variant old::types::FieldValue, new::types::FieldValue {
    Null, Text(x), Number(x), Boolean(x), Date(x), Datetime(x), Select(x),
    MultiSelect(x), Reference(x), Json(x),
});
both!(record old::types::Field, new::types::Field { name, value });
record!(old::types::Record => new::types::Record { id, version, updated_at, deleted, fields });
variant!(old::types::FieldType => new::types::FieldType {
    Text, Number, Boolean, Date, Datetime, Select, MultiSelect, Reference, Json,
});
record!(old::types::FieldSchema => new::types::FieldSchema { name, kind, read_only, options });
record!(old::types::EntitySchema => new::types::EntitySchema { entity, fields });
record!(old::types::RateHint => new::types::RateHint { per_second, burst, daily_budget });
record!(old::types::SettingSpec => new::types::SettingSpec { name, description, required });
record!(old::types::RateLimitedInfo => new::types::RateLimitedInfo { retry_after_ms, message });
record!(old::types::ConflictInfo => new::types::ConflictInfo { id, current_version, message });
variant!(old::types::ConnectorError => new::types::ConnectorError {
    Unauthorized(x), RateLimited(x), NotFound(x), Conflict(x), InvalidInput(x),
    Transient(x), Fatal(x),
});
record!(new::types::ReadRequest => old::types::ReadRequest { entity, cursor, since, page_size });
record!(old::types::Page => new::types::Page { records, next_cursor, checkpoint });
variant!(new::types::WriteOp => old::types::WriteOp { Create(x), Update(x), Delete(x) });
record!(new::types::UpdateOp => old::types::UpdateOp { id, expected_version, fields });
record!(new::types::DeleteOp => old::types::DeleteOp { id, expected_version });
record!(old::types::Written => new::types::Written { id, version, updated_at });
record!(new::types::WebhookRequest => old::types::WebhookRequest { method, path, headers, body });
variant!(old::types::ChangeKind => new::types::ChangeKind { Upsert, Delete });
record!(old::types::ChangeEvent => new::types::ChangeEvent { entity, id, kind, at });
variant!(old::types::AuthScheme => new::types::AuthScheme { None, Bearer(x), Header(x) });

impl Adapt<new::types::Capabilities> for old::types::Capabilities {
    fn adapt(self) -> new::types::Capabilities {
        use new::types::Capabilities as C;
        use old::types::Capabilities as O;
        let mut out = C::empty();
        for (o, c) in [
            (O::READ, C::READ),
            (O::WRITE, C::WRITE),
            (O::INCREMENTAL, C::INCREMENTAL),
            (O::DELETES, C::DELETES),
            (O::WEBHOOKS, C::WEBHOOKS),
        ] {
            if self.contains(o) {
                out |= c;
            }
        }
        out
    }
}

impl Adapt<new::types::Descriptor> for old::types::Descriptor {
    fn adapt(self) -> new::types::Descriptor {
        new::types::Descriptor {
            name: self.name,
            version: self.version,
            contract: self.contract,
            entities: self.entities,
            capabilities: self.capabilities.adapt(),
            hosts: self.hosts,
            auth: self.auth.adapt(),
            rate: self.rate.adapt(),
            settings: self.settings.adapt(),
            // 0.1.0 said nothing; the host keeps its 0.1.0 rule (a checkpoint
            // that parses as RFC 3339 is moved back), which `Timestamp`
            // names: an opaque one never parses as a date-time.
            checkpoint: new::types::CheckpointKind::Timestamp,
            max_batch: None,
        }
    }
}

/// A 0.1.0 write's outcome: confirmed or failed, never unknown.
pub(super) fn outcome(
    r: Result<old::types::Written, old::types::ConnectorError>,
) -> new::types::WriteOutcome {
    match r {
        Ok(w) => new::types::WriteOutcome::Written(w.adapt()),
        Err(e) => new::types::WriteOutcome::Failed(e.adapt()),
    }
}

// ---- the 0.1.0 imports, served by the 0.2.0 ones ---------------------------

record!(old::http::Request => new::http::Request { method, url, headers, body });
record!(new::http::Response => old::http::Response { status, headers, body });
variant!(new::http::HttpError => old::http::HttpError { Denied(x), Timeout, TooLarge(x), Network(x) });
variant!(old::log::Level => new::log::Level { Trace, Debug, Info, Warn, Error });

impl old::types::Host for HostState {}

impl old::http::Host for HostState {
    async fn send(
        &mut self,
        req: old::http::Request,
    ) -> wasmtime::Result<Result<old::http::Response, old::http::HttpError>> {
        let out = new::http::Host::send(self, req.adapt()).await?;
        Ok(out.map(Adapt::adapt).map_err(Adapt::adapt))
    }
}

impl old::log::Host for HostState {
    async fn log(&mut self, level: old::log::Level, message: String) -> wasmtime::Result<()> {
        new::log::Host::log(self, level.adapt(), message).await
    }
}

impl old::crypto::Host for HostState {
    async fn hmac_sha256(
        &mut self,
        secret_name: String,
        message: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        new::crypto::Host::hmac_sha256(self, secret_name, message).await
    }
}
