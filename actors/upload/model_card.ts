/**
 * The README.md of an adapter repo: YAML front matter the Hub indexes (base_model, library_name, tags,
 * datasets, metrics, and for image LoRAs the widget gallery of sample images) and a short body with
 * usage, metrics and file hashes. Pure and deterministic (no dates), so a re-run renders the same bytes
 * and the upload can tell an identical repo from a stale one. The Hub rejects a card whose base_model
 * is not a Hub id, so a local path is left out of the metadata.
 */
import { stringify } from "yaml";
import { type Task, trainingSpecOf } from "../../core/task.ts";
import type { DoneEvent } from "../../core/training.ts";

export type CardInput = { task: Task; done: DoneEvent; repoId: string };

const FLUX_DEV = "black-forest-labs/FLUX.1-dev";
const TEXT_TAGS = ["lora", "text-generation"];
const IMAGE_TAGS = ["lora", "text-to-image", "flux", "diffusers", "template:sd-lora"];

/** Whether `id` reads as a Hub model id (`name` or `org/name`) rather than a local path. */
export function isHubModelId(id: string): boolean {
  return /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(id) && !id.includes("..");
}

/** The metadata block, as a plain object (tests parse the YAML back and compare). */
export function cardMetadata({ task, done }: CardInput): Record<string, unknown> {
  const spec = trainingSpecOf(task);
  const base = isHubModelId(spec.base_model) ? spec.base_model : undefined;
  const dataset = task.request.dataset.kind === "hf" ? task.request.dataset.repo : undefined;
  const meta: Record<string, unknown> = {
    base_model: base,
    base_model_relation: base && "adapter",
    library_name: spec.type === "text" ? "peft" : "diffusers",
    pipeline_tag: spec.type === "text" ? "text-generation" : "text-to-image",
    tags: [
      ...(spec.type === "text" ? TEXT_TAGS : IMAGE_TAGS),
      ...(base ? [`base_model:adapter:${base}`] : []),
    ],
    datasets: dataset && [dataset],
    metrics: Object.keys(numericMetrics(done)),
  };
  if (base === FLUX_DEV) {
    Object.assign(meta, {
      license: "other",
      license_name: "flux-1-dev-non-commercial-license",
      license_link: `https://huggingface.co/${FLUX_DEV}/blob/main/LICENSE.md`,
    });
  }
  if (spec.type === "image") {
    meta.instance_prompt = spec.quality.prompts[0];
    const widget = widgetEntries(spec.quality.prompts, done.quality.samples);
    if (widget.length > 0) meta.widget = widget;
  }
  return Object.fromEntries(Object.entries(meta).filter(([, v]) => v !== undefined));
}

/** Sample images produced with the adapter (`samples/lora_<i>.png`), each paired with its prompt. */
export function widgetEntries(
  prompts: string[],
  samples: string[],
): { text: string; output: { url: string } }[] {
  const lora = samples.filter((s) => /(^|\/)lora_\d+\.\w+$/.test(s));
  return (lora.length > 0 ? lora : samples).map((url, i) => {
    const index = Number(url.match(/_(\d+)\.\w+$/)?.[1] ?? i);
    return { text: prompts[index % prompts.length] ?? "", output: { url } };
  });
}

/** The card: front matter, then the body. */
export function renderModelCard(input: CardInput): string {
  const { task, done, repoId } = input;
  const spec = trainingSpecOf(task);
  const hp = spec.hyperparameters;
  const lines = [
    `# ${repoId.split("/").at(-1)}`,
    "",
    `A LoRA adapter for \`${spec.base_model}\`, trained by a satori-miner (Bittensor subnet 119) for task ` +
    `\`${task.request.id}\`.`,
    "",
    "## Usage",
    "",
    "```python",
    ...(spec.type === "text" ? textUsage(repoId) : imageUsage(spec.base_model, repoId)),
    "```",
    "",
    ...(spec.type === "image" && done.quality.samples.length > 0 ? ["<Gallery />", ""] : []),
    "## Training",
    "",
    table(["hyperparameter", "value"], [
      ["rank", hp.rank],
      ["alpha", hp.alpha],
      ["learning rate", hp.learning_rate],
      ["steps", done.metrics.steps ?? hp.max_steps ?? "-"],
      ["batch size", hp.batch_size],
    ]),
    "",
    "## Metrics",
    "",
    table(
      ["metric", "value"],
      Object.entries(done.metrics).filter(([, v]) => v !== null).map(([k, v]) => [k, v]),
    ),
    "",
    `Quality check (\`${done.quality.metric}\`): ${
      done.quality.passed ? "passed" : "failed"
    }; ${done.quality.detail}`,
    "",
    "## Files",
    "",
    table(["path", "bytes", "sha256"], done.artifacts.map((a) => [a.path, a.bytes, `\`${a.sha256}\``])),
    "",
  ];
  return `---\n${stringify(cardMetadata(input), { lineWidth: 0 })}---\n\n${lines.join("\n")}`;
}

function numericMetrics(done: DoneEvent): Record<string, number> {
  const wanted = ["eval_loss", "perplexity", "train_loss_last"];
  const out: Record<string, number> = {};
  for (const key of wanted) {
    const v = done.metrics[key];
    if (typeof v === "number" && Number.isFinite(v)) out[key] = v;
  }
  return out;
}

function textUsage(repoId: string): string[] {
  return [
    "from peft import AutoPeftModelForCausalLM",
    "",
    `model = AutoPeftModelForCausalLM.from_pretrained("${repoId}")`,
  ];
}

function imageUsage(base: string, repoId: string): string[] {
  return [
    "import torch",
    "from diffusers import FluxPipeline",
    "",
    `pipe = FluxPipeline.from_pretrained("${base}", torch_dtype=torch.bfloat16)`,
    `pipe.load_lora_weights("${repoId}", weight_name="pytorch_lora_weights.safetensors")`,
  ];
}

function table(header: string[], rows: unknown[][]): string {
  const cell = (v: unknown) =>
    String(typeof v === "number" ? Number(v.toPrecision(6)) : v).replaceAll("|", "\\|");
  return [`| ${header.join(" | ")} |`, `|${header.map(() => " --- ").join("|")}|`]
    .concat(rows.map((r) => `| ${r.map(cell).join(" | ")} |`)).join("\n");
}
