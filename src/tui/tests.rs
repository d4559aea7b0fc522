//! Tests of the UI state, key handling and rendering (snapshots against `TestBackend`).
