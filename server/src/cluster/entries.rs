//! Stream entries as Redis sends them, taken apart in place: each field's value keeps the buffer the
//! reply was read into. The redis crate's own stream replies copy the whole reply and build a map per
//! entry and per stream, which at thousands of entries a second is most of a reader's work.

use bytes::Bytes;
use redis::{FromRedisValue, ParsingError, Value};

/// A stream entry's id: `(ms, n)`; an update's `ms` is its seq and its `n` is 0.
pub(super) fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, n) = id.split_once('-')?;
    Some((ms.parse().ok()?, n.parse().ok()?))
}

/// One entry of a stream: its id `(ms, n)` and its fields in the order written.
#[derive(Debug, Default, Clone)]
pub(super) struct Entry {
    pub(super) id: (u64, u64),
    fields: Vec<(Vec<u8>, Bytes)>,
}

impl Entry {
    /// An entry of these fields (for tests).
    #[cfg(test)]
    pub(super) fn new(id: (u64, u64), fields: &[(&str, &[u8])]) -> Entry {
        let fields = fields.iter().map(|(k, v)| (k.as_bytes().to_vec(), Bytes::copy_from_slice(v))).collect();
        Entry { id, fields }
    }

    /// The value of field `name` (the first, if written twice).
    pub(super) fn get(&self, name: &str) -> Option<&Bytes> {
        self.fields.iter().find(|(k, _)| k == name.as_bytes()).map(|(_, v)| v)
    }

    /// Takes the value of field `name` out of the entry.
    pub(super) fn take(&mut self, name: &str) -> Option<Bytes> {
        self.fields.iter_mut().find(|(k, _)| k == name.as_bytes()).map(|(_, v)| std::mem::take(v))
    }

    /// The entry under another id: a notification's carried entry under its id in the room's stream.
    pub(super) fn with_id(self, id: (u64, u64)) -> Entry {
        Entry { id, ..self }
    }

    /// Whether field `name` holds `value`.
    pub(super) fn is(&self, name: &str, value: &str) -> bool {
        self.get(name).is_some_and(|v| v == value.as_bytes())
    }

    /// Sets field `name` (for tests).
    #[cfg(test)]
    pub(super) fn set(&mut self, name: &str, value: &[u8]) {
        self.remove(name);
        self.fields.push((name.as_bytes().to_vec(), Bytes::copy_from_slice(value)));
    }

    /// Drops field `name` (for tests).
    #[cfg(test)]
    pub(super) fn remove(&mut self, name: &str) {
        self.fields.retain(|(k, _)| k != name.as_bytes());
    }
}

/// XRANGE's (or XREVRANGE's) reply: the entries, oldest first.
#[derive(Debug, Default)]
pub(super) struct Entries(pub(super) Vec<Entry>);

/// XREAD's reply: each stream that has entries, with its key.
#[derive(Debug, Default)]
pub(super) struct Streams(pub(super) Vec<(String, Vec<Entry>)>);

impl FromRedisValue for Entries {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        match v {
            Value::Nil => Ok(Entries::default()),
            Value::Array(items) => Ok(Entries(items.into_iter().filter_map(entry).collect())),
            _ => Err(ParsingError::from("a stream range is not an array".to_owned())),
        }
    }
}

impl FromRedisValue for Streams {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let pairs: Vec<(Value, Value)> = match v {
            // Nothing new before the read gave up waiting.
            Value::Nil => return Ok(Streams::default()),
            // RESP2: [[key, entries], …].
            Value::Array(rows) => rows
                .into_iter()
                .filter_map(|row| match row {
                    Value::Array(kv) => {
                        let mut kv = kv.into_iter();
                        Some((kv.next()?, kv.next()?))
                    }
                    _ => None,
                })
                .collect(),
            // RESP3: {key: entries, …}.
            Value::Map(pairs) => pairs,
            _ => return Err(ParsingError::from("a stream read is neither an array nor a map".to_owned())),
        };
        let mut streams = Vec::with_capacity(pairs.len());
        for (key, entries) in pairs {
            let Some(key) = text(key) else { continue };
            let Value::Array(items) = entries else { continue };
            streams.push((key, items.into_iter().filter_map(entry).collect()));
        }
        Ok(Streams(streams))
    }
}

/// `[id, [field, value, …]]`; `None` for anything else (an id that does not parse, no fields).
fn entry(v: Value) -> Option<Entry> {
    let Value::Array(parts) = v else { return None };
    let mut parts = parts.into_iter();
    let id = parse_id(&text(parts.next()?)?)?;
    let values = match parts.next()? {
        Value::Array(values) => values,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return None,
    };
    let mut fields = Vec::with_capacity(values.len() / 2);
    let mut values = values.into_iter();
    while let (Some(name), Some(value)) = (values.next(), values.next()) {
        if let (Some(name), Some(value)) = (raw(name), raw(value)) {
            fields.push((name, Bytes::from(value)));
        }
    }
    Some(Entry { id, fields })
}

fn raw(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

fn text(v: Value) -> Option<String> {
    String::from_utf8(raw(v)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn raw_entry(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![bulk(id), Value::Array(fields.iter().map(|f| bulk(f)).collect())])
    }

    #[test]
    fn a_read_of_two_streams_comes_apart_into_entries_and_fields() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk("s1"),
                Value::Array(vec![raw_entry("5-0", &["v", "1", "d", "xyz"]), raw_entry("5-1", &["v", "2"])]),
            ]),
            Value::Array(vec![bulk("s2"), Value::Array(vec![raw_entry("bad", &["v", "1"])])]),
        ]);
        let Streams(streams) = Streams::from_redis_value(reply).unwrap();
        assert_eq!(streams.len(), 2);
        let (key, entries) = &streams[0];
        assert_eq!(key, "s1");
        assert_eq!(entries.iter().map(|e| e.id).collect::<Vec<_>>(), vec![(5, 0), (5, 1)]);
        assert_eq!(entries[0].get("d").map(|d| &d[..]), Some(&b"xyz"[..]));
        assert!(entries[0].is("v", "1") && entries[1].is("v", "2"));
        assert_eq!(entries[1].get("d"), None);
        assert!(streams[1].1.is_empty(), "an entry whose id does not parse is left out");
        assert!(Streams::from_redis_value(Value::Nil).unwrap().0.is_empty(), "nothing new");
        assert_eq!(parse_id("12-0"), Some((12, 0)));
        assert_eq!(parse_id("nonsense"), None);
    }

    #[test]
    fn resp3_maps_read_like_arrays() {
        let fields = Value::Map(vec![(bulk("k"), bulk("u"))]);
        let reply =
            Value::Map(vec![(bulk("s"), Value::Array(vec![Value::Array(vec![bulk("7-0"), fields])]))]);
        let Streams(streams) = Streams::from_redis_value(reply).unwrap();
        assert!(streams[0].1[0].is("k", "u"));
        let Entries(range) = Entries::from_redis_value(Value::Array(vec![raw_entry("3-2", &[])])).unwrap();
        assert_eq!(range[0].id, (3, 2));
        assert!(Entries::from_redis_value(Value::Int(1)).is_err());
    }
}
