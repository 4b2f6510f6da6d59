//! The PostgreSQL backend passes the shared conformance suite, each check
//! on a database of its own.

mod common;

hindsight_store::conformance_tests!(common::fresh);
