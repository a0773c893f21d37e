//! A jemalloc heap profile as pprof (gzipped protobuf), symbolized in this
//! process.
//!
//! jemalloc_pprof's own encoder keys its function table by name alone, and
//! async bodies all carry the same debug name (`{async_fn#0}`), so every one
//! of them got the file of the first: a leak in an example's handler was
//! reported in `store/mod.rs`. Here a function is its name *and* its file.

use std::{collections::HashMap, io::Write};

use jemalloc_pprof::StackProfile;

/// The pprof messages written (field numbers from profile.proto).
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub(super) sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub(super) sample: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub(super) location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub(super) function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub(super) string_table: Vec<String>,
        #[prost(message, optional, tag = "11")]
        pub(super) period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub(super) period: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct ValueType {
        #[prost(int64, tag = "1")]
        pub(super) r#type: i64,
        #[prost(int64, tag = "2")]
        pub(super) unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        pub(super) location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub(super) value: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Location {
        #[prost(uint64, tag = "1")]
        pub(super) id: u64,
        #[prost(uint64, tag = "3")]
        pub(super) address: u64,
        #[prost(message, repeated, tag = "4")]
        pub(super) line: Vec<Line>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Line {
        #[prost(uint64, tag = "1")]
        pub(super) function_id: u64,
        #[prost(int64, tag = "2")]
        pub(super) line: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Function {
        #[prost(uint64, tag = "1")]
        pub(super) id: u64,
        #[prost(int64, tag = "2")]
        pub(super) name: i64,
        #[prost(int64, tag = "3")]
        pub(super) system_name: i64,
        #[prost(int64, tag = "4")]
        pub(super) filename: i64,
    }
}

/// Interned strings, functions and locations of the profile being written.
#[derive(Default)]
struct Tables {
    profile: proto::Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(String, String), u64>,
    locations: HashMap<usize, u64>,
}

impl Tables {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.profile.string_table.len() as i64;
        self.profile.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn function(&mut self, name: &str, file: &str) -> u64 {
        let key = (name.to_string(), file.to_string());
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        let (name, filename) = (self.string(name), self.string(file));
        self.profile.function.push(proto::Function {
            id,
            name,
            system_name: name,
            filename,
        });
        self.functions.insert(key, id);
        id
    }

    /// The location of a return address, its inlined frames innermost first.
    fn location(&mut self, return_address: usize) -> u64 {
        if let Some(&id) = self.locations.get(&return_address) {
            return id;
        }
        // the call instruction is before the return address
        let address = return_address.saturating_sub(1);
        let mut frames = Vec::new();
        backtrace::resolve(address as *mut std::ffi::c_void, |symbol| {
            let name = symbol.name().map(|n| format!("{n:#}")).unwrap_or_default();
            let file = symbol
                .filename()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            frames.push((name, file, i64::from(symbol.lineno().unwrap_or(0))));
        });
        let line = frames
            .iter()
            .map(|(name, file, line)| proto::Line {
                function_id: self.function(name, file),
                line: *line,
            })
            .collect();
        let id = self.profile.location.len() as u64 + 1;
        self.profile.location.push(proto::Location {
            id,
            address: address as u64,
            line,
        });
        self.locations.insert(return_address, id);
        id
    }
}

/// Encodes `profile` (live sampled bytes per stack) as gzipped pprof.
pub(super) fn encode(profile: &StackProfile) -> anyhow::Result<Vec<u8>> {
    let mut t = Tables::default();
    t.string("");
    let space = proto::ValueType {
        r#type: t.string("inuse_space"),
        unit: t.string("bytes"),
    };
    t.profile.sample_type.push(space.clone());
    t.profile.period_type = Some(space);
    for (stack, _) in profile.iter() {
        // the stack is outermost first; pprof wants the leaf first
        let location_id = stack.addrs.iter().rev().map(|&a| t.location(a)).collect();
        t.profile.sample.push(proto::Sample {
            location_id,
            value: vec![stack.weight.round() as i64],
        });
    }
    let bytes = prost::Message::encode_to_vec(&t.profile);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes)?;
    Ok(gz.finish()?)
}
