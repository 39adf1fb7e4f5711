//! Full mode's snapshots, kept small. A run of consecutive snapshots (the first upgrade's, the
//! downs', the ups', a replay's) changes by one migration from one snapshot to the next, so a
//! `Series` keeps what changed between neighbours (a `Delta`), packed into bytes (a tenth of
//! the objects' size in memory), and one snapshot of the run, packed too. A `Cursor` rebuilds any snapshot of the series, walking from where it last was:
//! sequential reads cost one step's changes each. Memory grows with what the migrations
//! change, not with the number of migrations times the size of the schema.

use std::collections::{BTreeMap, VecDeque};

use crate::snapshot::{SchemaObject, Snapshot};

/// The table an object belongs to, as `full::inherit` reads paths.
fn owner(path: &str) -> Option<&str> {
    path.split_once(" > ").map(|(table, _)| table)
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).expect("a schema string under 4 GB");
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_map(buf: &mut Vec<u8>, map: &BTreeMap<String, String>) {
    let len = u32::try_from(map.len()).expect("under 4 G properties");
    buf.extend_from_slice(&len.to_le_bytes());
    for (k, v) in map {
        put_str(buf, k);
        put_str(buf, v);
    }
}

fn put_object(buf: &mut Vec<u8>, object: &SchemaObject) {
    put_map(buf, &object.properties);
    put_map(buf, &object.cosmetic);
}

/// Reads what the `put_` functions wrote.
struct Reader<'b>(&'b [u8]);

impl Reader<'_> {
    fn done(&self) -> bool {
        self.0.is_empty()
    }

    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().expect("packed data is complete");
        self.0 = rest;
        *b
    }

    fn len(&mut self) -> usize {
        let (n, rest) = self.0.split_at(4);
        self.0 = rest;
        u32::from_le_bytes(n.try_into().expect("four bytes")) as usize
    }

    fn string(&mut self) -> String {
        let len = self.len();
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(s.to_vec()).expect("packed from a String")
    }

    fn map(&mut self) -> BTreeMap<String, String> {
        (0..self.len())
            .map(|_| (self.string(), self.string()))
            .collect()
    }

    fn object(&mut self) -> SchemaObject {
        SchemaObject {
            properties: self.map(),
            cosmetic: self.map(),
        }
    }
}

fn pack(snapshot: &Snapshot) -> Vec<u8> {
    let mut buf = Vec::new();
    for (path, object) in &snapshot.objects {
        put_str(&mut buf, path);
        put_object(&mut buf, object);
    }
    buf
}

fn unpack(bytes: &[u8]) -> Snapshot {
    let mut r = Reader(bytes);
    let mut snapshot = Snapshot::default();
    while !r.done() {
        let path = r.string();
        snapshot.objects.insert(path, r.object().into());
    }
    snapshot
}

/// The objects of a packed snapshot, as they were packed (by path), without unpacking them:
/// each path and the bytes of its object. Two objects are equal when their bytes are.
fn records(bytes: &[u8]) -> impl Iterator<Item = (&str, &[u8])> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut r = Reader(rest);
        let len = r.len();
        let (path, after) = r.0.split_at(len);
        let mut r = Reader(after);
        for _ in 0..2 {
            for _ in 0..r.len() * 2 {
                let len = r.len();
                r.0 = &r.0[len..];
            }
        }
        let object = &after[..after.len() - r.0.len()];
        rest = r.0;
        Some((
            std::str::from_utf8(path).expect("packed from a String"),
            object,
        ))
    })
}

const OLD: u8 = 1;
const NEW: u8 = 2;
/// An object the step did not change, under a table it changed (`full::inherit` reads it).
const CONTEXT: u8 = 4;

/// One entry of a delta: an object that differs between the two snapshots, with its value in
/// each (`None`: absent), or, for `context`, an object equal in both.
#[derive(Debug, PartialEq)]
pub(super) struct Entry {
    pub(super) path: String,
    pub(super) before: Option<SchemaObject>,
    pub(super) after: Option<SchemaObject>,
    pub(super) context: bool,
}

/// What turns one snapshot into the next, packed: the objects that differ, with their value in
/// each (so that it applies in both directions), and the unchanged objects under each table
/// that changed (after the table: a table's path sorts before its objects').
#[derive(Debug, Default, Clone, PartialEq)]
struct Delta(Vec<u8>);

impl Delta {
    /// What turns the packed snapshot `from` into the packed `to`.
    fn between(from: &[u8], to: &[u8]) -> Delta {
        let mut buf = Vec::new();
        let mut changed: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut a = records(from).peekable();
        let mut b = records(to).peekable();
        loop {
            let (path, before, after) = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(&(pa, _)), Some(&(pb, _))) if pa == pb => {
                    let ((path, old), (_, new)) =
                        (a.next().expect("peeked"), b.next().expect("peeked"));
                    if old == new {
                        if owner(path).is_some_and(|table| changed.contains(table)) {
                            buf.push(CONTEXT);
                            put_str(&mut buf, path);
                            buf.extend_from_slice(old);
                        }
                        continue;
                    }
                    (path, Some(old), Some(new))
                }
                (Some(&(pa, _)), Some(&(pb, _))) if pa > pb => {
                    let (path, new) = b.next().expect("peeked");
                    (path, None, Some(new))
                }
                (Some(_), _) => {
                    let (path, old) = a.next().expect("peeked");
                    (path, Some(old), None)
                }
                (None, Some(_)) => {
                    let (path, new) = b.next().expect("peeked");
                    (path, None, Some(new))
                }
            };
            let tag =
                if before.is_some() { OLD } else { 0 } | if after.is_some() { NEW } else { 0 };
            buf.push(tag);
            put_str(&mut buf, path);
            for object in [before, after].into_iter().flatten() {
                buf.extend_from_slice(object);
            }
            changed.insert(path);
        }
        Delta(buf)
    }

    fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let mut r = Reader(&self.0);
        std::iter::from_fn(move || {
            if r.done() {
                return None;
            }
            let tag = r.byte();
            let path = r.string();
            if tag == CONTEXT {
                let object = r.object();
                return Some(Entry {
                    path,
                    before: Some(object.clone()),
                    after: Some(object),
                    context: true,
                });
            }
            let before = (tag & OLD != 0).then(|| r.object());
            let after = (tag & NEW != 0).then(|| r.object());
            Some(Entry {
                path,
                before,
                after,
                context: false,
            })
        })
    }

    /// Turn the delta's `from` into its `to` (`forward`), or back.
    fn apply(&self, snapshot: &mut Snapshot, forward: bool) {
        for entry in self.entries().filter(|e| !e.context) {
            match if forward { entry.after } else { entry.before } {
                Some(object) => snapshot.objects.insert(entry.path, object.into()),
                None => snapshot.objects.remove(&entry.path),
            };
        }
    }
}

/// The snapshots `s[first..=last]` of a run of consecutive states, grown at either end, all
/// packed: whole snapshots exist only in a `Cursor`.
#[derive(Debug)]
pub(super) struct Series {
    first: usize,
    /// `deltas[k]` turns `s[first + k]` into `s[first + k + 1]`.
    deltas: VecDeque<Delta>,
    /// The snapshot added last, packed, and its index.
    kept: Vec<u8>,
    kept_at: usize,
}

impl Series {
    /// A series holding one snapshot, `s[at]`.
    pub(super) fn new(at: usize, snapshot: &Snapshot) -> Series {
        Series {
            first: at,
            deltas: VecDeque::new(),
            kept: pack(snapshot),
            kept_at: at,
        }
    }

    /// A series holding one snapshot: the one added last to `other`, at the same index.
    pub(super) fn from_latest_of(other: &Series) -> Series {
        Series {
            first: other.kept_at,
            deltas: VecDeque::new(),
            kept: other.kept.clone(),
            kept_at: other.kept_at,
        }
    }

    /// The index of the first snapshot.
    pub(super) fn first(&self) -> usize {
        self.first
    }

    /// The index of the last snapshot.
    pub(super) fn last(&self) -> usize {
        self.first + self.deltas.len()
    }

    /// Add `s[last + 1]`, next to the snapshot added last, which must be `s[last]`.
    pub(super) fn push(&mut self, snapshot: &Snapshot) {
        assert_eq!(
            self.kept_at,
            self.last(),
            "a series grows at the end it was last grown"
        );
        let packed = pack(snapshot);
        self.deltas.push_back(Delta::between(&self.kept, &packed));
        self.kept = packed;
        self.kept_at += 1;
    }

    /// Add `s[first - 1]`, next to the snapshot added last, which must be `s[first]`.
    pub(super) fn push_front(&mut self, snapshot: &Snapshot) {
        assert!(self.first > 0, "a series starts at index 0 at the lowest");
        assert_eq!(
            self.kept_at, self.first,
            "a series grows at the end it was last grown"
        );
        let packed = pack(snapshot);
        self.deltas.push_front(Delta::between(&packed, &self.kept));
        self.kept = packed;
        self.first -= 1;
        self.kept_at -= 1;
    }

    /// The snapshot added last.
    pub(super) fn latest(&self) -> Snapshot {
        unpack(&self.kept)
    }

    /// What changed between `s[i]` and `s[i + 1]`, with the unchanged objects of each table
    /// that changed (`context`).
    pub(super) fn step(&self, i: usize) -> impl Iterator<Item = Entry> + '_ {
        assert!(
            (self.first()..self.last()).contains(&i),
            "step {i} is not in the series {}..={}",
            self.first(),
            self.last()
        );
        self.deltas[i - self.first].entries()
    }

    /// A reader of the series' snapshots; it starts at the one added last.
    pub(super) fn cursor(&self) -> Cursor<'_> {
        Cursor {
            series: self,
            current: None,
        }
    }

    /// The bytes the series keeps.
    pub(super) fn packed_bytes(&self) -> usize {
        self.deltas.iter().map(|d| d.0.len()).sum::<usize>() + self.kept.len()
    }
}

/// Rebuilds the snapshots of a series, walking from one index to the next.
pub(super) struct Cursor<'s> {
    series: &'s Series,
    /// The snapshot the cursor is at, and its index (unpacked from the series on first use).
    current: Option<(usize, Snapshot)>,
}

impl Cursor<'_> {
    /// The series' snapshot `s[i]` (`i` must lie in the series).
    pub(super) fn at(&mut self, i: usize) -> &Snapshot {
        let series = self.series;
        assert!(
            (series.first()..=series.last()).contains(&i),
            "snapshot {i} is not in the series {}..={}",
            series.first(),
            series.last()
        );
        let (at, snapshot) = self
            .current
            .get_or_insert_with(|| (series.kept_at, series.latest()));
        while *at < i {
            series.deltas[*at - series.first].apply(snapshot, true);
            *at += 1;
        }
        while *at > i {
            *at -= 1;
            series.deltas[*at - series.first].apply(snapshot, false);
        }
        snapshot
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn object(props: &[(&str, &str)]) -> std::sync::Arc<SchemaObject> {
        SchemaObject {
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cosmetic: BTreeMap::new(),
        }
        .into()
    }

    /// A chain of states like a growing schema, with a change, a removal and a cosmetic
    /// difference along the way.
    pub(in crate::verify) fn states() -> Vec<Snapshot> {
        let mut out = vec![Snapshot::default()];
        for t in 0..6 {
            let mut next = out.last().cloned().unwrap_or_default();
            next.objects.insert(
                format!("table public.t{t}"),
                object(&[("owner", "postgres")]),
            );
            next.objects.insert(
                format!("table public.t{t} > column id"),
                object(&[("type", "bigint"), ("nullable", "false")]),
            );
            match t {
                2 => {
                    next.objects.insert(
                        "table public.t0 > column id".to_string(),
                        object(&[("type", "integer")]),
                    );
                }
                3 => {
                    // The table changes, its column does not.
                    next.objects.insert(
                        "table public.t1".to_string(),
                        object(&[("owner", "app"), ("comment", "ünïcode\nlines")]),
                    );
                }
                4 => {
                    next.objects.remove("table public.t1");
                    next.objects.remove("table public.t1 > column id");
                }
                5 => {
                    let column = next
                        .objects
                        .get_mut("table public.t2 > column id")
                        .expect("column");
                    std::sync::Arc::make_mut(column)
                        .cosmetic
                        .insert("position".to_string(), "3".to_string());
                }
                _ => {}
            }
            out.push(next);
        }
        out
    }

    #[test]
    fn a_snapshot_packs_and_unpacks_unchanged() {
        for s in states() {
            let packed = pack(&s);
            assert_eq!(unpack(&packed), s);
            let paths: Vec<&str> = records(&packed).map(|(path, _)| path).collect();
            assert_eq!(paths, s.objects.keys().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_delta_turns_one_snapshot_into_the_other_and_back() {
        let states = states();
        for from in &states {
            for to in &states {
                let delta = Delta::between(&pack(from), &pack(to));
                let mut s = from.clone();
                delta.apply(&mut s, true);
                assert_eq!(&s, to);
                delta.apply(&mut s, false);
                assert_eq!(&s, from);
            }
        }
        let packed = pack(&states[3]);
        assert_eq!(Delta::between(&packed, &packed), Delta::default());
    }

    #[test]
    fn a_delta_names_the_unchanged_objects_of_a_changed_table() {
        let states = states();
        let entries: Vec<Entry> = Delta::between(&pack(&states[3]), &pack(&states[4]))
            .entries()
            .collect();
        let names: Vec<(&str, bool)> = entries
            .iter()
            .map(|e| (e.path.as_str(), e.context))
            .collect();
        assert_eq!(
            names,
            [
                ("table public.t1", false),
                ("table public.t1 > column id", true),
                ("table public.t3", false),
                ("table public.t3 > column id", false),
            ]
        );
        let context = &entries[1];
        assert_eq!(context.before, context.after);
        assert_eq!(
            context.before.as_ref(),
            states[3]
                .objects
                .get("table public.t1 > column id")
                .map(|o| &**o)
        );
    }

    #[test]
    fn a_series_grown_forward_gives_back_every_snapshot_in_any_order() {
        let states = states();
        let mut series = Series::new(0, &states[0]);
        for s in &states[1..] {
            series.push(s);
        }
        assert_eq!((series.first(), series.last()), (0, 6));
        assert_eq!(series.latest(), states[6]);
        let mut cursor = series.cursor();
        for i in [0, 6, 3, 3, 4, 1, 5, 2, 0] {
            assert_eq!(cursor.at(i), &states[i], "snapshot {i}");
        }
        // Two cursors read independently.
        let (mut a, mut b) = (series.cursor(), series.cursor());
        for i in (0..6).rev() {
            assert_eq!((a.at(i), b.at(i + 1)), (&states[i], &states[i + 1]));
        }
        let next = Series::from_latest_of(&series);
        assert_eq!(
            (next.first(), next.last(), next.latest()),
            (6, 6, states[6].clone())
        );
    }

    #[test]
    fn a_series_grown_backward_starts_where_it_was_last_grown() {
        let states = states();
        let mut series = Series::new(6, &states[6]);
        for i in (2..6).rev() {
            series.push_front(&states[i]);
        }
        assert_eq!((series.first(), series.last()), (2, 6));
        assert_eq!(series.latest(), states[2]);
        let mut cursor = series.cursor();
        for i in [2, 6, 4, 5, 3, 2] {
            assert_eq!(cursor.at(i), &states[i], "snapshot {i}");
        }
        let step: Vec<Entry> = series.step(3).collect();
        assert_eq!(
            step,
            Delta::between(&pack(&states[3]), &pack(&states[4]))
                .entries()
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_growing_chain_costs_what_it_adds_not_a_schema_per_step() {
        let mut series = Series::new(0, &Snapshot::default());
        let mut schema = Snapshot::default();
        let mut every_schema = 0;
        for t in 0..300 {
            schema.objects.insert(
                format!("table public.t{t}"),
                object(&[("owner", "postgres")]),
            );
            schema.objects.insert(
                format!("table public.t{t} > column id"),
                object(&[("type", "bigint"), ("not null", "yes")]),
            );
            series.push(&schema);
            every_schema += pack(&schema).len();
        }
        let last = pack(&schema).len();
        // The last schema and each step's objects (with their paths and a tag): about twice it.
        assert!(
            series.packed_bytes() < 3 * last,
            "{} {last}",
            series.packed_bytes()
        );
        assert!(every_schema > 100 * last);
        assert_eq!(series.cursor().at(150), &{
            let mut s = schema.clone();
            s.objects.retain(|path, _| {
                let t: usize = path["table public.t".len()..]
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("a table number");
                t < 150
            });
            s
        });
    }

    #[test]
    #[should_panic(expected = "not in the series")]
    fn a_cursor_refuses_an_index_outside_the_series() {
        let series = Series::new(3, &Snapshot::default());
        series.cursor().at(2);
    }
}
