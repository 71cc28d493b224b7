/**
 * Every public message union and its reply types, one section per actor (see STYLE.md). Tags are
 * imperative lowerCamel verbs; each message that expects an answer carries `reply: Reply<Result>`
 * with its result type declared beside it. Callers use each actor's interface functions, never
 * build these by hand. Timer ticks and child results stay private to the actor's own file.
 */
export type { Reply } from "./runtime/actor.ts";

// ── ChainMsg (actors/chain/chain_actor.ts) ─────────────────────────────────────────────────────

// ── QueueMsg (actors/queue/queue_actor.ts) ─────────────────────────────────────────────────────

// ── GpuMsg (actors/gpu/gpu_actor.ts) ───────────────────────────────────────────────────────────

// ── UploadMsg (actors/upload/upload_actor.ts) ──────────────────────────────────────────────────

// ── SubmitMsg (actors/submit/submit_actor.ts) ──────────────────────────────────────────────────

// ── AxonMsg (actors/axon/axon_actor.ts) ────────────────────────────────────────────────────────
