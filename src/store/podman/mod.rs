//! containers/storage (WIP).
