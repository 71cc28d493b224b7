/**
 * UploadActor: owns the Hugging Face token and pushes trained adapters to the Hub. On start it checks
 * the token with whoAmI, so a missing, bad or read-only token stops the miner at once instead of failing
 * hours later. Takes `upload` (task, trainer `done`, out dir) and replies with the repo and commit sha:
 * repo created if missing, artifacts + model card in one commit, every call retried on 429/5xx. Safe to
 * re-run after a crash: a repo already holding exactly these files answers with the existing commit.
 */
import { ConfigError, HttpStatusError } from "../../core/errors.ts";
import { assertNever } from "../../core/errors.ts";
import type { MinerConfig } from "../../core/config.ts";
import { actorLogger, redactText } from "../../core/logging.ts";
import type { UploadMsg, UploadRequest, UploadResult } from "../protocol.ts";
import { type ActorRef, type Clock, realClock, spawn } from "../runtime/actor.ts";
import {
  checkToken,
  commitFiles,
  ensureRepo,
  type HubAccess,
  remoteState,
  type TokenInfo,
} from "./hub_steps.ts";
import { planUpload } from "./plan.ts";
import { repoIdFor } from "./repo_name.ts";
import { DEFAULT_RETRY, RetryError, type RetryNotice, type RetryPolicy, withRetry } from "./retry.ts";

const log = actorLogger("upload");

export type UploadDeps = {
  /** `huggingface.hub_url`: an origin without a trailing slash. */
  hubUrl: string;
  /** `huggingface.token` or HF_TOKEN; null fails the start with a hint. */
  token: string | null;
  /** The namespace repos go to; null uses the token's user. */
  username: string | null;
  private: boolean;
  /** Named in the error when the token is missing or unusable. */
  configFile?: string | null;
  fetch?: typeof fetch;
  clock?: Clock;
  random?: () => number;
  retry?: Partial<RetryPolicy>;
  onRetry?: (notice: RetryNotice) => void;
  /** Offer Xet to the Hub; off by default so uploads use LFS, the protocol the local Hub tests. */
  useXet?: boolean;
};

type State = { deps: UploadDeps; access: HubAccess; namespace: string; retry: RetryPolicy };

/** The deps from the miner's config. */
export function uploadDepsFrom(cfg: MinerConfig): UploadDeps {
  const hf = cfg.huggingface;
  const hubUrl = hf.hub_url.replace(/\/+$/, "");
  return {
    hubUrl,
    token: hf.token,
    username: hf.username,
    private: hf.private,
    configFile: cfg.runtime.configFile,
  };
}

export function startUploadActor(deps: UploadDeps): ActorRef<UploadMsg> {
  return spawn<UploadMsg, State>({
    name: "upload",
    capacity: 256, // one upload runs at a time; the rest wait their turn here
    clock: deps.clock,
    stopTimeoutMs: 30_000,
    init: () => connect(deps),
    handle,
  });
}

async function handle(state: State, msg: UploadMsg): Promise<void> {
  switch (msg.type) {
    case "upload":
      return msg.reply(await uploadTask(state, msg.request));
    default:
      assertNever(msg.type);
  }
}

/** Checks the token before any work arrives; throwing here crashes the start and escalates. */
async function connect(deps: UploadDeps): Promise<State> {
  const file = deps.configFile ?? "<defaults>";
  const hint = "set HF_TOKEN (or huggingface.token) to a Hugging Face access token with the write role";
  if (!deps.token) throw new ConfigError(file, null, null, "huggingface.token", `no token is set; ${hint}`);
  if (!deps.token.startsWith("hf_")) {
    throw new ConfigError(
      file,
      null,
      null,
      "huggingface.token",
      `the token does not start with "hf_"; ${hint}`,
    );
  }
  const retry = { ...DEFAULT_RETRY, ...deps.retry };
  const access: HubAccess = { hubUrl: deps.hubUrl, accessToken: deps.token, useXet: deps.useXet ?? false };
  let who: TokenInfo;
  try {
    who = await withRetry(
      "check the Hugging Face token",
      retryDeps(deps, retry),
      (f) => checkToken(access, f),
    );
  } catch (e) {
    throw startError(deps, e, hint);
  }
  if (who.role === "read") {
    const detail = `token "${who.tokenName ?? "?"}" of "${who.name}" is read-only; ${hint}`;
    throw new ConfigError(file, null, null, "huggingface.token", detail);
  }
  const namespace = deps.username ?? who.name;
  if (namespace !== who.name && !who.orgs.includes(namespace)) {
    log.warn("Token of {user} may not write to namespace {namespace} (orgs: {orgs})", {
      user: who.name,
      namespace,
      orgs: who.orgs,
    });
  }
  log.info("Uploads go to {hubUrl}/{namespace} as {user}", {
    hubUrl: deps.hubUrl,
    namespace,
    user: who.name,
  });
  return { deps, access, namespace, retry };
}

function startError(deps: UploadDeps, e: unknown, hint: string): Error {
  const failure = e instanceof RetryError ? e.last : null;
  const status = failure?.status ?? null;
  const url = `${deps.hubUrl}/api/whoami-v2`;
  const reason = redact(deps, e instanceof Error ? e.message : String(e));
  if (status === 401) {
    return new HttpStatusError(
      401,
      url,
      `Cannot start uploads: ${deps.hubUrl} rejected the token (401); ${hint}`,
      null,
      {
        cause: e,
      },
    );
  }
  if (status !== null) {
    return new HttpStatusError(status, url, `Cannot start uploads: ${reason}`, null, { cause: e });
  }
  return new Error(`Cannot start uploads: ${reason}`, { cause: e });
}

async function uploadTask(state: State, req: UploadRequest): Promise<UploadResult> {
  const { task } = req;
  const id = task.request.id;
  const repoId = repoIdFor(state.namespace, task.request.type, id);
  const plan = await planUpload({ ...req, repoId });
  if (!plan.ok) return { ok: false, reason: "artifact_invalid", message: plan.message };
  const marker = `task "${id}"`;
  const title = `Upload ${task.request.type} LoRA for ${marker}`;
  const description = `Trained by satori-miner for ${marker}.\n\n` +
    plan.files.map((f) => `- ${f.path}: ${f.bytes} bytes, sha256 ${f.sha256}`).join("\n");
  const deps = retryDeps(state.deps, state.retry);
  const { access } = state;
  try {
    const created = await withRetry(
      `create "${repoId}"`,
      deps,
      (f) => ensureRepo(access, f, repoId, state.deps.private),
    );
    const outcome = await withRetry(`commit to "${repoId}"`, deps, async (f) => {
      // Re-read on every attempt: a commit whose answer was lost may have landed, and must not land twice.
      const remote = await remoteState(access, f, repoId, plan.files, marker);
      if (remote.kind === "uploaded") return { sha: remote.commitSha, reused: true };
      return {
        sha: await commitFiles(access, f, repoId, plan.files, remote, { title, description }),
        reused: false,
      };
    });
    log.info("Task {taskId} uploaded to {repoId} at {commitSha} ({how})", {
      taskId: id,
      repoId,
      commitSha: outcome.sha,
      how: outcome.reused ? "already there" : created === "created" ? "new repo" : "new commit",
    });
    const url = `${state.deps.hubUrl}/${repoId}`;
    return { ok: true, repoId, commitSha: outcome.sha, url, reused: outcome.reused };
  } catch (e) {
    return failure(state, repoId, e);
  }
}

/** Turns a failed step into the reply: 401/403 name what is missing, the rest carry the Hub's message. */
function failure(state: State, repoId: string, e: unknown): UploadResult {
  if (!(e instanceof RetryError)) throw e; // not a Hub answer: a bug, so crash and let the supervisor decide
  const status = e.last.status;
  const text = redact(state.deps, e.message);
  const ns = state.namespace;
  let result: UploadResult;
  if (status === 401) {
    const message = `Cannot upload to "${repoId}": ${state.deps.hubUrl} rejected the token (401); ` +
      "set HF_TOKEN to a valid Hugging Face token with the write role";
    result = { ok: false, reason: "unauthorized", message };
  } else if (status === 403) {
    const message =
      `Cannot upload to "${repoId}": the token lacks write access to namespace "${ns}" (403); ` +
      `it needs the write role, or for a fine-grained token the "repo.write" permission on "${ns}" (${text})`;
    result = { ok: false, reason: "forbidden", message };
  } else if (e.last.kind === "fatal" && status !== null) {
    result = { ok: false, reason: "rejected", message: text };
  } else {
    result = { ok: false, reason: "unavailable", message: text };
  }
  log.error("Upload to {repoId} failed: {message}", { repoId, message: result.message });
  return result;
}

function retryDeps(deps: UploadDeps, policy: RetryPolicy) {
  return {
    fetch: deps.fetch ?? globalThis.fetch,
    clock: deps.clock ?? realClock,
    random: deps.random ?? Math.random,
    policy,
    onRetry: (n: RetryNotice) => {
      log.warn("Retrying {action} in {delayMs} ms (attempt {attempt}, status {status}): {error}", {
        ...n,
        error: redact(deps, n.error),
      });
      deps.onRetry?.(n);
    },
  };
}

/** Hub messages carry URLs, not tokens; scrub anyway, since a message is the one thing that leaves. */
function redact(deps: UploadDeps, text: string): string {
  return deps.token ? redactText(text, [deps.token]) : text;
}
