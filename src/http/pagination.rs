//! Cursor pagination: `?limit=` (default 50, max 500) and an opaque `?cursor=` that encodes the
//! id of the last item of the previous page (UUID v7 ids are time-ordered).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{FieldErrors, FieldIssue};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// Pagination query parameters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Items per page, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Parsed pagination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    /// Id after which (in list order) the page starts.
    pub after: Option<String>,
}

impl PageQuery {
    /// Parses into `errs` (so pagination errors join the other query errors).
    pub fn parse(&self, errs: &mut FieldErrors) -> Page {
        let limit = errs
            .check("limit", parse_limit(self.limit.as_deref()))
            .unwrap_or(DEFAULT_LIMIT);
        let after = self
            .cursor
            .as_deref()
            .and_then(|c| errs.check("cursor", decode_cursor(c)));
        Page { limit, after }
    }
}

fn parse_limit(raw: Option<&str>) -> Result<i64, FieldIssue> {
    match raw.map(str::trim) {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(FieldIssue::new(
                "out_of_range",
                format!("must be a number from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

pub fn encode_cursor(last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_id.as_bytes())
}

fn decode_cursor(raw: &str) -> Result<String, FieldIssue> {
    let bad = || FieldIssue::new("invalid_cursor", "is not a cursor returned by this list");
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    uuid::Uuid::parse_str(&s).map_err(|_| bad())?;
    Ok(s)
}

/// A page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// The last page, with nothing on it.
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next_cursor: None,
        }
    }

    /// Builds a page from `limit + 1` fetched rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, id_of: impl Fn(&T) -> String) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(&id_of(r)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// Maps each item through a fallible step (e.g. loading its full view), keeping the cursor.
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Paged<U>, E> {
        Ok(Paged {
            items: self
                .items
                .into_iter()
                .map(f)
                .collect::<Result<Vec<_>, E>>()?,
            next_cursor: self.next_cursor,
        })
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

impl Paged<String> {
    /// The JSON of a page whose items are JSON texts already (stored documents): the same text
    /// as serializing a `Paged` of their values, without parsing them again.
    pub fn into_json(self) -> String {
        let size = self.items.iter().map(|d| d.len() + 1).sum::<usize>();
        let mut out = String::with_capacity(size + 64);
        out.push_str("{\"items\":[");
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(item);
        }
        out.push_str("],\"next_cursor\":");
        match self.next_cursor {
            Some(c) => out.push_str(&serde_json::Value::String(c).to_string()),
            None => out.push_str("null"),
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_json_texts_reads_as_the_page_of_their_values() {
        let docs = [r#"{"id":"a","n":[1,2]}"#, r#"{"id":"b \"q\"","n":null}"#];
        for cursor in [None, Some("YWJj".to_owned())] {
            let values: Vec<serde_json::Value> = docs
                .iter()
                .map(|d| serde_json::from_str(d).expect("json"))
                .collect();
            let expected = serde_json::to_string(&Paged {
                items: values,
                next_cursor: cursor.clone(),
            })
            .expect("serialize");
            let raw = Paged {
                items: docs.iter().map(|d| (*d).to_owned()).collect(),
                next_cursor: cursor,
            };
            assert_eq!(raw.into_json(), expected);
        }
        assert_eq!(
            Paged::<String>::empty().into_json(),
            r#"{"items":[],"next_cursor":null}"#
        );
    }

    #[test]
    fn limit_bounds() {
        let mut errs = FieldErrors::new();
        let q = PageQuery {
            limit: Some("501".into()),
            cursor: Some("zz!".into()),
        };
        q.parse(&mut errs);
        assert!(errs.into_result().is_err());
        let mut errs = FieldErrors::new();
        let id = uuid::Uuid::now_v7().to_string();
        let q = PageQuery {
            limit: Some("10".into()),
            cursor: Some(encode_cursor(&id)),
        };
        assert_eq!(
            q.parse(&mut errs),
            Page {
                limit: 10,
                after: Some(id)
            }
        );
        assert!(errs.is_empty());
    }

    #[test]
    fn page_from_rows() {
        let p = Paged::from_rows(vec![1, 2, 3], 2, |n| format!("{n}"));
        assert_eq!(p.items, vec![1, 2]);
        assert!(p.next_cursor.is_some());
        let p = Paged::from_rows(vec![1, 2], 2, |n| format!("{n}"));
        assert!(p.next_cursor.is_none());
    }
}
