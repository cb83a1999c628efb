/** The crash-safe job journal: what a restarted runner needs to report the jobs it had in hand. */
export {
  JobJournal,
  type JobJournalOptions,
  type JournalJob,
  type JournalRunner,
} from "./job_journal.ts";
export {
  decodeJournal,
  decodeRecord,
  encodeRecord,
  JOURNAL_VERSION,
  type JournalRecord,
} from "./journal_record.ts";
export {
  interruptedNote,
  type RecoveryOptions,
  type RecoveryOutcome,
  reportInterruptedJobs,
} from "./journal_recovery.ts";
export {
  FileJournalStore,
  JOURNAL_FILE,
  type JournalStore,
  JournalStoreError,
} from "./journal_store.ts";
