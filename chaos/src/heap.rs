//! Heap profiles: the server's pprof dumps (`/admin/heap/profile`), decoded
//! and diffed to name the code site of a growing structure.
//!
//! A dump lists the live sampled bytes per allocation stack. Two dumps taken
//! while the server is idle, before and after rounds of load, differ where
//! something kept what the requests allocated. The growth is summed per
//! *site*: the innermost frame of the project's own code on the stack (the
//! allocator, the standard library and dependencies are skipped), so a `Vec`
//! that reallocated at each doubling counts once, under the line that pushed.
//!
//! pprof is the standard format, so `pprof -diff_base first.pb.gz last.pb.gz`
//! shows the same thing to a person.

use std::{collections::BTreeMap, io::Read};

use serde::Serialize;

/// The pprof messages this reader needs (field numbers from profile.proto).
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Profile {
        #[prost(message, repeated, tag = "2")]
        pub(super) sample: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub(super) location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub(super) function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub(super) string_table: Vec<String>,
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
        #[prost(int64, tag = "4")]
        pub(super) filename: i64,
    }
}

/// Most compressed and decompressed bytes a profile may have.
const MAX_PROFILE_BYTES: u64 = 64 << 20;

/// One frame of a stack, innermost first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Frame {
    pub function: String,
    pub file: String,
    pub line: i64,
}

/// Live sampled bytes under one allocation stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeapStack {
    pub bytes: f64,
    /// Innermost first.
    pub frames: Vec<Frame>,
}

/// A decoded heap profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HeapProfile {
    pub stacks: Vec<HeapStack>,
}

/// Why a profile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HeapError {
    #[error("the profile is not gzip")]
    Gzip(#[source] std::io::Error),
    #[error("the profile is larger than {MAX_PROFILE_BYTES} bytes")]
    TooLarge,
    #[error("the profile is not a pprof protobuf")]
    Decode(#[source] prost::DecodeError),
}

impl HeapProfile {
    /// Decodes a gzipped pprof profile; its first sample value is the bytes.
    pub fn decode(pprof_gz: &[u8]) -> Result<HeapProfile, HeapError> {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(pprof_gz)
            .take(MAX_PROFILE_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(HeapError::Gzip)?;
        if raw.len() as u64 > MAX_PROFILE_BYTES {
            return Err(HeapError::TooLarge);
        }
        let profile: proto::Profile =
            prost::Message::decode(raw.as_slice()).map_err(HeapError::Decode)?;
        Ok(HeapProfile::from_proto(&profile))
    }

    fn from_proto(p: &proto::Profile) -> HeapProfile {
        let text = |i: i64| {
            usize::try_from(i)
                .ok()
                .and_then(|i| p.string_table.get(i))
                .cloned()
                .unwrap_or_default()
        };
        let functions: BTreeMap<u64, (String, String)> = p
            .function
            .iter()
            .map(|f| (f.id, (text(f.name), text(f.filename))))
            .collect();
        let locations: BTreeMap<u64, Vec<Frame>> = p
            .location
            .iter()
            .map(|l| {
                let frames = l
                    .line
                    .iter()
                    .map(|line| {
                        let (function, file) = functions
                            .get(&line.function_id)
                            .cloned()
                            .unwrap_or_default();
                        Frame {
                            function,
                            file,
                            line: line.line,
                        }
                    })
                    .collect();
                (l.id, frames)
            })
            .collect();
        let stacks = p
            .sample
            .iter()
            .map(|s| HeapStack {
                bytes: s.value.first().copied().unwrap_or(0) as f64,
                frames: s
                    .location_id
                    .iter()
                    .flat_map(|id| locations.get(id).cloned().unwrap_or_default())
                    .collect(),
            })
            .collect();
        HeapProfile { stacks }
    }

    /// Live sampled bytes per site (see the module's docs).
    pub fn bytes_by_site(&self) -> BTreeMap<Site, f64> {
        let mut sites = BTreeMap::new();
        for stack in self.stacks.iter().filter(|s| !is_profiler(s)) {
            let site = Site::of(&stack.frames);
            *sites.entry(site).or_insert(0.0) += stack.bytes;
        }
        sites
    }
}

/// Where a stack's allocation came from in the project's own code: its
/// innermost project frame, and the project frames that called it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Site {
    /// Innermost first; empty when no frame is the project's (a dependency's own allocation).
    pub frames: Vec<Frame>,
    /// The dependency that allocated on the project's behalf (the crate of
    /// the first frame between the allocator and the project's frame that is
    /// neither the standard library nor the project); `None` when the
    /// project's code allocated directly, through `Vec`, `String`, `HashMap`
    /// or `Box`.
    pub through: Option<String>,
}

/// Project frames kept per site: the allocating line and a few callers.
const SITE_DEPTH: usize = 3;

impl Site {
    fn of(frames: &[Frame]) -> Site {
        let callers = callers_of_the_allocator(frames);
        let first_project = callers.iter().position(is_project);
        let through = first_project
            .map_or(callers, |i| &callers[..i])
            .iter()
            .find_map(dependency_crate);
        Site {
            frames: callers
                .iter()
                .filter(|f| is_project(f))
                .take(SITE_DEPTH)
                .cloned()
                .collect(),
            through: first_project.and(through),
        }
    }
}

/// The crate a frame belongs to when it is neither the standard library nor
/// the project's: from a registry path, or else the function's first path
/// segment (dependencies without debug info have a name and no file).
fn dependency_crate(f: &Frame) -> Option<String> {
    if is_project(f) || f.file.starts_with("/rustc/") || f.file.starts_with("/rust/deps/") {
        return None;
    }
    if let Some((_, after)) = f.file.split_once("/registry/src/") {
        // index.crates.io-HASH/NAME-VERSION/src/...
        let name_version = after.split('/').nth(1)?;
        let name = name_version
            .rsplit_once('-')
            .map_or(name_version, |(n, _)| n);
        return Some(name.to_string());
    }
    let name = f.function.trim_start_matches('<');
    let krate = name.split("::").next().unwrap_or("");
    let std = ["alloc", "core", "std", "hashbrown", "__rustc"];
    (!krate.is_empty() && !krate.starts_with('{') && !std.contains(&krate))
        .then(|| krate.to_string())
}

/// The frames above the allocator: the innermost ones are the allocator
/// itself (jemalloc's C, its Rust binding, a counting wrapper around it, the
/// `__rust_alloc` shim), whichever crate each lives in; the stack's site is
/// above them.
fn callers_of_the_allocator(frames: &[Frame]) -> &[Frame] {
    let inside = frames.iter().take_while(|f| is_allocator(f)).count();
    &frames[inside..]
}

fn is_allocator(f: &Frame) -> bool {
    let name = f.function.to_ascii_lowercase();
    let file = f.file.to_ascii_lowercase();
    name.contains("jemalloc")
        || file.contains("jemalloc")
        || ["__rust_", "__rg_", "globalalloc"]
            .iter()
            .any(|p| name.contains(p))
        || file.ends_with(".c")
        || file.ends_with(".h")
}

/// Whether a frame is the project's own code: Rust, and neither the standard
/// library (with the crates it vendors) nor a dependency from a registry.
pub fn is_project(frame: &Frame) -> bool {
    let file = frame.file.as_str();
    // the allocator's C sources and anything else that is not Rust are not ours
    file.ends_with(".rs")
        && !file.starts_with("/rustc/")
        && !file.starts_with("/rust/deps/")
        && !file.contains("/.cargo/")
        && !file.contains("/rustlib/")
        && !file.starts_with("library/")
}

/// Whether a stack is the profiler's own work (dumping and symbolizing keep
/// caches that are not the server's): the server's `heapprof/` module, or
/// the crates it dumps and symbolizes with.
fn is_profiler(stack: &HeapStack) -> bool {
    callers_of_the_allocator(&stack.frames).iter().any(|f| {
        f.file.contains("/heapprof/")
            || ["/jemalloc_pprof-", "/pprof_util-", "/backtrace-"]
                .iter()
                .any(|c| f.file.contains(c))
    })
}

/// A site whose live bytes grew between two profiles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    pub site: Site,
    pub before: f64,
    pub after: f64,
    pub grew: f64,
}

/// Sites whose live bytes grew from `before` to `after`, most first.
pub fn diff(before: &HeapProfile, after: &HeapProfile) -> Vec<Growth> {
    let was = before.bytes_by_site();
    let now = after.bytes_by_site();
    let mut grown: Vec<Growth> = now
        .into_iter()
        .map(|(site, after)| {
            let before = was.get(&site).copied().unwrap_or(0.0);
            Growth {
                grew: after - before,
                site,
                before,
                after,
            }
        })
        .filter(|g| g.grew > 0.0)
        .collect();
    grown.sort_by(|a, b| b.grew.total_cmp(&a.grew));
    grown
}

/// The heap-site judge's answer over profiles taken at quiet points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteFinding {
    /// Sites that grew past the floor and kept it, most first.
    pub growing: Vec<Growth>,
    /// The largest growth of any site (for the margin on a healthy server).
    pub largest: Option<Growth>,
    /// What the paths are relative to.
    pub root: String,
    pub floor_bytes: f64,
}

/// Sites whose live bytes grew from the first profile to the last by more
/// than `floor_bytes` and did not fall back on the way: the last reading is
/// within `floor_bytes / 4` of the highest (a buffer caught mid-use at one
/// quiet point is not retained memory).
///
/// A site that allocates through a dependency (a pool's connection, a span
/// slab, a metric's label set) grows to high-water marks set by concurrency,
/// not by the request count: it must grow [`THROUGH_DEPENDENCY`] times the
/// floor. The project's own `Vec`, `String` and map are held to the floor.
pub fn growing_sites(profiles: &[HeapProfile], floor_bytes: f64) -> SiteFinding {
    let root = project_root(profiles);
    let (Some(first), Some(last)) = (profiles.first(), profiles.last()) else {
        return SiteFinding {
            growing: Vec::new(),
            largest: None,
            root,
            floor_bytes,
        };
    };
    let by_site: Vec<BTreeMap<Site, f64>> =
        profiles.iter().map(HeapProfile::bytes_by_site).collect();
    let kept = |g: &Growth| {
        let highest = by_site
            .iter()
            .filter_map(|m| m.get(&g.site).copied())
            .fold(0.0, f64::max);
        g.after >= highest - floor_bytes / 4.0
    };
    let grown = diff(first, last);
    let largest = grown.iter().find(|g| !g.site.frames.is_empty()).cloned();
    let growing = grown
        .into_iter()
        .filter(|g| !g.site.frames.is_empty() && g.grew > g.site.floor(floor_bytes) && kept(g))
        .collect();
    SiteFinding {
        growing,
        largest,
        root,
        floor_bytes,
    }
}

/// How many times the floor a site allocating through a dependency must grow.
pub const THROUGH_DEPENDENCY: f64 = 8.0;

impl Site {
    /// The growth this site must pass to be retained memory.
    pub fn floor(&self, floor_bytes: f64) -> f64 {
        match self.through {
            Some(_) => THROUGH_DEPENDENCY * floor_bytes,
            None => floor_bytes,
        }
    }
}

/// The project's root as the profiles name it: the folder above the longest
/// common folder of every project file, so paths read `server/src/...`.
pub fn project_root<'a>(profiles: impl IntoIterator<Item = &'a HeapProfile>) -> String {
    let mut common: Option<String> = None;
    for frame in profiles
        .into_iter()
        .flat_map(|p| p.stacks.iter())
        .flat_map(|s| s.frames.iter())
        .filter(|f| is_project(f) && f.file.starts_with('/'))
    {
        let dir = frame.file.rsplit_once('/').map_or("", |(d, _)| d);
        common = Some(match common {
            None => dir.to_string(),
            Some(c) => common_dir(&c, dir),
        });
    }
    // from a crate's src/, examples/ or tests/ up to the folder above the crate
    let mut dir = common.unwrap_or_default();
    for _ in 0..2 {
        let known = ["src", "examples", "tests", "benches"];
        if let Some((parent, last)) = dir.rsplit_once('/')
            && known.contains(&last)
        {
            dir = parent.to_string();
        }
    }
    dir.rsplit_once('/')
        .map_or(String::new(), |(parent, _)| format!("{parent}/"))
}

fn common_dir(a: &str, b: &str) -> String {
    let parts: Vec<&str> = a
        .split('/')
        .zip(b.split('/'))
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect();
    parts.join("/")
}

impl Site {
    /// `server/src/x.rs:31 (x::remember) <- server/src/api/outfits.rs:88`,
    /// paths relative to `root`.
    pub fn describe(&self, root: &str) -> String {
        if self.frames.is_empty() {
            return "a dependency's own allocation (no project frame on the stack)".into();
        }
        let frames = self
            .frames
            .iter()
            .map(|f| {
                let file = f.file.strip_prefix(root).unwrap_or(&f.file);
                // async bodies are all named `{async_fn#0}` in the debug info: the line says more
                match short_function(&f.function) {
                    name if name.is_empty() || name.starts_with('{') => {
                        format!("{file}:{}", f.line)
                    }
                    name => format!("{file}:{} ({name})", f.line),
                }
            })
            .collect::<Vec<_>>()
            .join(" <- ");
        match &self.through {
            Some(krate) => format!("{frames} (through {krate})"),
            None => frames,
        }
    }
}

/// A function's last two path segments, without generics: `outfits::generate`.
fn short_function(name: &str) -> String {
    let plain: String = {
        let mut depth = 0usize;
        name.chars()
            .filter(|c| {
                match c {
                    '<' => depth += 1,
                    '>' => depth = depth.saturating_sub(1),
                    _ => return depth == 0,
                }
                false
            })
            .collect()
    };
    let plain = plain.trim_end_matches("::{{closure}}");
    let parts: Vec<&str> = plain.split("::").filter(|p| !p.is_empty()).collect();
    parts[parts.len().saturating_sub(2)..].join("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str, line: i64) -> Frame {
        Frame {
            function: function.into(),
            file: file.into(),
            line,
        }
    }

    fn stack(bytes: f64, frames: &[Frame]) -> HeapStack {
        HeapStack {
            bytes,
            frames: frames.to_vec(),
        }
    }

    const ROOT: &str = "/build/spikeproof";

    fn growing_vec_stack(bytes: f64) -> HeapStack {
        stack(
            bytes,
            &[
                frame("__rust_realloc", "", 0),
                frame(
                    "<outfit_server::alloc::Counting<A> as core::alloc::global::GlobalAlloc>::realloc",
                    &format!("{ROOT}/server/src/alloc.rs"),
                    70,
                ),
                frame(
                    "alloc::raw_vec::finish_grow",
                    "/rustc/abc/library/alloc/src/raw_vec.rs",
                    1,
                ),
                frame(
                    "defect::remember",
                    &format!("{ROOT}/server/examples/defect.rs"),
                    31,
                ),
                frame(
                    "outfit_server::overload::admit::{{closure}}",
                    &format!("{ROOT}/server/src/overload.rs"),
                    300,
                ),
                frame(
                    "tokio::runtime::task::poll",
                    "/root/.cargo/registry/src/tokio/x.rs",
                    9,
                ),
            ],
        )
    }

    #[test]
    fn a_growing_buffer_is_named_by_the_project_line_that_pushed() {
        let before = HeapProfile {
            stacks: vec![growing_vec_stack(8192.0)],
        };
        let after = HeapProfile {
            stacks: vec![
                growing_vec_stack(32768.0),
                stack(
                    4096.0,
                    &[frame(
                        "hyper::proto::h1::x",
                        "/root/.cargo/registry/src/hyper/x.rs",
                        1,
                    )],
                ),
            ],
        };
        let grown = diff(&before, &after);
        assert_eq!(grown.len(), 2);
        assert_eq!(grown[0].grew, 24576.0);
        let root = project_root([&before, &after]);
        assert_eq!(root, format!("{ROOT}/"));
        assert_eq!(
            grown[0].site.describe(&root),
            "server/examples/defect.rs:31 (defect::remember) <- server/src/overload.rs:300 (overload::admit)"
        );
        assert!(grown[1].site.frames.is_empty());
    }

    /// A span slab page a dependency allocated while serving the project's request.
    fn slab_page_stack(bytes: f64) -> HeapStack {
        stack(
            bytes,
            &[
                frame("__rust_alloc", "", 0),
                frame("<alloc::raw_vec::RawVecInner>::try_allocate_in", "", 0),
                frame("sharded_slab::page::Shared<T,C>::allocate", "", 0),
                frame("{closure#1}", &format!("{ROOT}/server/src/api/mod.rs"), 95),
            ],
        )
    }

    #[test]
    fn growth_through_a_dependency_must_pass_eight_times_the_floor_and_the_projects_own_once() {
        let before = HeapProfile {
            stacks: vec![growing_vec_stack(8192.0), slab_page_stack(4096.0)],
        };
        let after = HeapProfile {
            stacks: vec![growing_vec_stack(16384.0), slab_page_stack(14336.0)],
        };
        let found = growing_sites(&[before, after], 6144.0);
        assert_eq!(found.growing.len(), 1, "{found:?}");
        assert_eq!(found.growing[0].site.through, None);
        assert!(
            found.growing[0]
                .site
                .describe(&found.root)
                .starts_with("server/examples/defect.rs:31")
        );
        let slab = HeapStack::clone(&slab_page_stack(0.0));
        let site = Site::of(&slab.frames);
        assert_eq!(site.through.as_deref(), Some("sharded_slab"));
        assert!(
            site.describe(&format!("{ROOT}/"))
                .ends_with("(through sharded_slab)")
        );
    }

    #[test]
    fn a_site_that_shrank_or_stayed_is_not_growth() {
        let before = HeapProfile {
            stacks: vec![growing_vec_stack(32768.0)],
        };
        let after = HeapProfile {
            stacks: vec![growing_vec_stack(32768.0)],
        };
        assert!(diff(&before, &after).is_empty());
        assert!(diff(&after, &HeapProfile::default()).is_empty());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            HeapProfile::decode(b"not gzip"),
            Err(HeapError::Gzip(_))
        ));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &[0xff, 0xff, 0xff]).expect("in memory");
        let bytes = gz.finish().expect("in memory");
        assert!(matches!(
            HeapProfile::decode(&bytes),
            Err(HeapError::Decode(_))
        ));
    }

    #[test]
    fn a_pprof_message_round_trips_into_stacks_innermost_first() {
        let p = proto::Profile {
            sample: vec![proto::Sample {
                location_id: vec![1, 2],
                value: vec![4096],
            }],
            location: vec![
                proto::Location {
                    id: 1,
                    line: vec![proto::Line {
                        function_id: 1,
                        line: 31,
                    }],
                },
                proto::Location {
                    id: 2,
                    line: vec![proto::Line {
                        function_id: 2,
                        line: 88,
                    }],
                },
            ],
            function: vec![
                proto::Function {
                    id: 1,
                    name: 1,
                    filename: 2,
                },
                proto::Function {
                    id: 2,
                    name: 3,
                    filename: 4,
                },
            ],
            string_table: vec![
                String::new(),
                "defect::remember".into(),
                "/w/server/examples/defect.rs".into(),
                "outfit_server::api::outfits::generate".into(),
                "/w/server/src/api/outfits.rs".into(),
            ],
        };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &prost::Message::encode_to_vec(&p)).expect("in memory");
        let decoded = HeapProfile::decode(&gz.finish().expect("in memory")).expect("decodes");
        assert_eq!(decoded.stacks.len(), 1);
        assert_eq!(decoded.stacks[0].bytes, 4096.0);
        assert_eq!(decoded.stacks[0].frames[0].line, 31);
        assert_eq!(
            decoded.stacks[0].frames[1].function,
            "outfit_server::api::outfits::generate"
        );
    }
}
