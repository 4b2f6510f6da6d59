//! Which events of `$all` a read or subscription wants.

use crate::event::category_of;

/// Which events of `$all` a read or a subscription wants. All set
/// conditions must hold; an empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Exactly this stream.
    pub stream: Option<String>,
    /// Streams whose category (the name before the first `-`) is this.
    pub category: Option<String>,
    /// Streams whose name starts with this.
    pub stream_prefix: Option<String>,
    /// Events whose type is one of these (empty: any type).
    pub event_types: Vec<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.stream.is_none() && self.category.is_none() && self.stream_prefix.is_none() && self.event_types.is_empty()
    }

    pub fn matches(&self, stream: &str, event_type: &str) -> bool {
        if self.stream.as_deref().is_some_and(|s| s != stream) {
            return false;
        }
        if let Some(c) = &self.category {
            if category_of(stream) != c {
                return false;
            }
        }
        if let Some(p) = &self.stream_prefix {
            if !stream.starts_with(p.as_str()) {
                return false;
            }
        }
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }
}
