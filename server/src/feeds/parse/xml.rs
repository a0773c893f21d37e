//! Google Merchant Center XML: RSS 2.0 `<item>`s or Atom 1.0 `<entry>`s whose
//! attributes live in the `g:` namespace.
//!
//! Only the direct children of an item are fields (so the `g:price` inside
//! `g:shipping` is not the product's price). A `g:` attribute wins over the
//! plain RSS/Atom `title`, `link` and `description`. An item whose tags do not
//! match, or whose text is not well-formed, is reported as malformed and the
//! parser goes on with the next item; a feed that ends inside its root (a
//! cut-off download) is reported as truncated.

use std::io::BufRead;

use quick_xml::{
    NsReader, XmlVersion,
    escape::resolve_predefined_entity,
    events::{BytesStart, Event},
    name::ResolveResult,
};

use super::{FeedFormat, Metered, Parsed, RowSource};
use crate::feeds::{
    FeedError,
    item::{FeedItem, Field},
    report::{Reason, RowPos},
};

const GOOGLE_NS: &str = "http://base.google.com/ns/1.0";

/// Where the text of the element being read goes.
#[derive(Debug, Clone, Copy)]
struct Target {
    field: Field,
    /// A `g:` attribute (overrides a plain one) rather than RSS/Atom's own element.
    google: bool,
}

/// An open element inside an item.
#[derive(Debug)]
struct Frame {
    qname: String,
    target: Option<Target>,
}

/// The item being read.
#[derive(Debug, Default)]
struct Open {
    pos: RowPos,
    item: FeedItem,
    stack: Stack,
    text: String,
    /// Why the item is malformed (the first problem).
    bad: Option<String>,
}

/// Open elements; popped frames keep their name buffers for the next push.
#[derive(Debug, Default)]
struct Stack {
    frames: Vec<Frame>,
    depth: usize,
}

impl Stack {
    fn push(&mut self, qname: &str, target: Option<Target>) {
        match self.frames.get_mut(self.depth) {
            Some(frame) => {
                frame.qname.clear();
                frame.qname.push_str(qname);
                frame.target = target;
            }
            None => self.frames.push(Frame {
                qname: qname.to_owned(),
                target,
            }),
        }
        self.depth += 1;
    }

    fn pop(&mut self) -> Option<&Frame> {
        self.depth = self.depth.checked_sub(1)?;
        self.frames.get(self.depth)
    }

    fn last(&self) -> Option<&Frame> {
        self.depth.checked_sub(1).and_then(|d| self.frames.get(d))
    }

    fn is_empty(&self) -> bool {
        self.depth == 0
    }

    fn len(&self) -> usize {
        self.depth
    }
}

/// Row source over an RSS or Atom feed.
#[derive(Debug)]
pub struct XmlRows<R: BufRead> {
    reader: NsReader<Metered<R>>,
    buf: Vec<u8>,
    open: Option<Open>,
    rows: u64,
    /// Elements open outside items (the root, `channel`).
    outer_depth: usize,
    last_error_at: Option<u64>,
    done: bool,
    stopped: Option<String>,
    /// Buffers of the last item, reused by the next.
    spare: (Stack, String),
}

impl<R: BufRead + Send> XmlRows<R> {
    /// Reads up to the root element and checks that it is `<rss>` or `<feed>`.
    pub fn new(input: Metered<R>) -> Result<XmlRows<R>, FeedError> {
        let mut reader = NsReader::from_reader(input);
        let config = reader.config_mut();
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        let mut buf = Vec::with_capacity(4096);
        loop {
            buf.clear();
            match reader.read_resolved_event_into(&mut buf) {
                Ok((_, Event::Start(e))) => {
                    let local = e.local_name();
                    let local = local.as_ref();
                    if local == "rss" || local == "feed" {
                        break;
                    }
                    return Err(FeedError::WrongFormat {
                        expected: "an RSS 2.0 or Atom feed",
                        detail: format!("its root element is <{}>", e.name().as_ref()),
                    });
                }
                Ok((_, Event::Eof)) => {
                    return Err(FeedError::WrongFormat {
                        expected: "an RSS 2.0 or Atom feed",
                        detail: "it has no root element".into(),
                    });
                }
                Ok((_, Event::Empty(e))) => {
                    return Err(FeedError::WrongFormat {
                        expected: "an RSS 2.0 or Atom feed",
                        detail: format!("its root element is an empty <{}/>", e.name().as_ref()),
                    });
                }
                Ok((_, Event::Text(t))) if !t.xml10_content().trim().is_empty() => {
                    return Err(FeedError::WrongFormat {
                        expected: "an RSS 2.0 or Atom feed",
                        detail: "it has text before its root element".into(),
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(FeedError::WrongFormat {
                        expected: "well-formed XML",
                        detail: e.to_string(),
                    });
                }
            }
        }
        Ok(XmlRows {
            reader,
            buf,
            open: None,
            rows: 0,
            outer_depth: 1,
            last_error_at: None,
            done: false,
            stopped: None,
            spare: (Stack::default(), String::new()),
        })
    }

    fn finish(&mut self, open: Open) -> Parsed {
        let Open {
            pos,
            item,
            bad,
            mut stack,
            mut text,
        } = open;
        stack.depth = 0;
        text.clear();
        self.spare = (stack, text);
        match bad {
            None => Parsed::Item(pos, item),
            Some(detail) => Parsed::Bad {
                pos,
                id: (!item.id.is_empty()).then_some(item.id),
                reason: Reason::MalformedXml,
                detail,
            },
        }
    }

    fn start_item(&mut self) -> Option<Parsed> {
        self.rows += 1;
        let pos = RowPos {
            row: self.rows,
            line: self.reader.get_ref().line(),
        };
        self.reader.get_mut().mark();
        let (stack, text) = std::mem::take(&mut self.spare);
        let previous = self.open.replace(Open {
            pos,
            stack,
            text,
            ..Open::default()
        });
        previous.map(|mut p| {
            p.bad
                .get_or_insert_with(|| "an item that is never closed".into());
            self.finish(p)
        })
    }

    /// Reads events until a record is complete or the feed ends.
    fn step(&mut self) -> Option<Parsed> {
        loop {
            self.buf.clear();
            let event = self.reader.read_resolved_event_into(&mut self.buf);
            let (ns, event) = match event {
                Ok(ok) => ok,
                Err(e) => {
                    let at = self.reader.buffer_position();
                    if self.last_error_at == Some(at) {
                        // no progress after an error: give up on the rest
                        self.done = true;
                        self.stopped = Some(format!("unreadable XML at byte {at}: {e}"));
                        return self.open.take().map(|mut o| {
                            o.bad.get_or_insert_with(|| e.to_string());
                            self.finish(o)
                        });
                    }
                    self.last_error_at = Some(at);
                    if let quick_xml::Error::Io(io) = &e {
                        self.done = true;
                        self.stopped = Some(format!("reading stopped at byte {at}: {io}"));
                        return self.open.take().map(|mut o| {
                            o.bad.get_or_insert_with(|| io.to_string());
                            self.finish(o)
                        });
                    }
                    match &mut self.open {
                        Some(open) => {
                            open.bad.get_or_insert_with(|| e.to_string());
                        }
                        None => {
                            // an error between items: count it as a malformed record of its own
                            self.rows += 1;
                            return Some(Parsed::Bad {
                                pos: RowPos {
                                    row: self.rows,
                                    line: self.reader.get_ref().line(),
                                },
                                id: None,
                                reason: Reason::MalformedXml,
                                detail: e.to_string(),
                            });
                        }
                    }
                    continue;
                }
            };
            let google = match &ns {
                ResolveResult::Bound(n) => n.0 == GOOGLE_NS,
                ResolveResult::Unknown(prefix) => prefix == "g",
                ResolveResult::Unbound => false,
            };
            match event {
                Event::Start(e) => {
                    let local = e.local_name();
                    let local = local.as_ref();
                    let is_item = !google && (local == "item" || local == "entry");
                    if is_item {
                        if let Some(done) = self.start_item() {
                            return Some(done);
                        }
                        continue;
                    }
                    match &mut self.open {
                        None => self.outer_depth += 1,
                        Some(open) => {
                            let target = if open.stack.is_empty() {
                                target(local, google)
                            } else {
                                None
                            };
                            open.text.clear();
                            open.stack.push(e.name().as_ref(), target);
                        }
                    }
                }
                Event::Empty(e) => {
                    if let Some(open) = &mut self.open
                        && open.stack.is_empty()
                        && !google
                        && e.local_name().as_ref() == "link"
                    {
                        atom_link(open, &e);
                    }
                }
                Event::End(e) => {
                    let qname = e.name();
                    let qname = qname.as_ref();
                    let local = e.local_name();
                    let is_item =
                        !google && (local.as_ref() == "item" || local.as_ref() == "entry");
                    let Some(open) = &mut self.open else {
                        self.outer_depth = self.outer_depth.saturating_sub(1);
                        continue;
                    };
                    if is_item && open.stack.is_empty() {
                        let Some(open) = self.open.take() else {
                            continue;
                        };
                        return Some(self.finish(open));
                    }
                    if is_item {
                        let unclosed = open
                            .stack
                            .last()
                            .map(|f| f.qname.clone())
                            .unwrap_or_default();
                        open.bad
                            .get_or_insert_with(|| format!("<{unclosed}> is never closed"));
                        let Some(open) = self.open.take() else {
                            continue;
                        };
                        return Some(self.finish(open));
                    }
                    let popped = open.stack.pop().map(|f| (f.qname == qname, f.target));
                    match popped {
                        Some((true, target)) => {
                            if let Some(t) = target {
                                assign(open, t);
                            }
                        }
                        Some((false, _)) => {
                            let opened = open
                                .stack
                                .frames
                                .get(open.stack.depth)
                                .map(|f| f.qname.clone());
                            open.bad.get_or_insert_with(|| {
                                format!("<{}> is closed by </{qname}>", opened.unwrap_or_default())
                            });
                        }
                        None => {
                            open.bad
                                .get_or_insert_with(|| format!("</{qname}> closes nothing"));
                        }
                    }
                }
                Event::Text(t) => {
                    if let Some(open) = self.open.as_mut().filter(|o| reading(o)) {
                        open.text.push_str(&t.xml10_content());
                    }
                }
                Event::CData(t) => {
                    if let Some(open) = self.open.as_mut().filter(|o| reading(o)) {
                        open.text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(open) = self.open.as_mut().filter(|o| reading(o)) {
                        match r.resolve_char_ref() {
                            Ok(Some(ch)) => open.text.push(ch),
                            Ok(None) => match resolve_predefined_entity(&r) {
                                Some(s) => open.text.push_str(s),
                                None => {
                                    // an HTML entity such as &nbsp; kept as written
                                    open.text.push('&');
                                    open.text.push_str(&r);
                                    open.text.push(';');
                                }
                            },
                            Err(e) => {
                                open.bad.get_or_insert_with(|| e.to_string());
                            }
                        }
                    }
                }
                Event::Eof => {
                    self.done = true;
                    if self.open.is_some() || self.outer_depth > 0 {
                        self.stopped = Some(format!(
                            "the feed ends at line {} before its closing tag (cut off?)",
                            self.reader.get_ref().line()
                        ));
                    }
                    return self.open.take().map(|mut o| {
                        o.bad
                            .get_or_insert_with(|| "the feed ends inside this item".into());
                        self.finish(o)
                    });
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }
}

/// Whether text goes into a field now: inside a field element, directly under the item.
fn reading(open: &Open) -> bool {
    open.stack.len() == 1 && open.stack.last().is_some_and(|f| f.target.is_some())
}

/// The field an item child element fills.
fn target(local: &str, google: bool) -> Option<Target> {
    if google {
        return Field::from_name(local).map(|(field, _)| Target {
            field,
            google: true,
        });
    }
    let field = match local {
        "title" => Field::Title,
        "link" => Field::Link,
        "description" | "summary" => Field::Description,
        _ => return None,
    };
    Some(Target {
        field,
        google: false,
    })
}

fn assign(open: &mut Open, t: Target) {
    let text = std::mem::take(&mut open.text);
    if t.google || open.item.get(t.field).is_empty() || t.field.repeats() {
        open.item.set(t.field, &text);
    }
    open.text = text;
    open.text.clear();
}

/// Atom's `<link rel="alternate" href="..."/>`.
fn atom_link(open: &mut Open, e: &BytesStart<'_>) {
    let rel = e.try_get_attribute("rel").ok().flatten().and_then(|a| {
        a.normalized_value(XmlVersion::Implicit1_0)
            .ok()
            .map(|v| v.into_owned())
    });
    if rel.as_deref().is_some_and(|r| r != "alternate") {
        return;
    }
    if let Ok(Some(href)) = e.try_get_attribute("href")
        && let Ok(v) = href.normalized_value(XmlVersion::Implicit1_0)
        && open.item.link.is_empty()
    {
        open.item.set(Field::Link, &v);
    }
}

impl<R: BufRead + Send + std::fmt::Debug> Iterator for XmlRows<R> {
    type Item = Parsed;

    fn next(&mut self) -> Option<Parsed> {
        if self.done {
            return None;
        }
        self.step()
    }
}

impl<R: BufRead + Send + std::fmt::Debug> RowSource for XmlRows<R> {
    fn format(&self) -> FeedFormat {
        FeedFormat::GoogleXml
    }

    fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }
}
