"""The event journal and its readers."""

from tunefleet.journal.sqlite import Journal, MemoryJournal, read_events

__all__ = ["Journal", "MemoryJournal", "read_events"]
