# satori-miner on an NVIDIA GPU box: `docker run --gpus all -p 8001:8001 \
#   -v ~/.bittensor:/home/miner/.bittensor:ro -v satori-data:/app/data -e HF_TOKEN satori-miner`
# Not built in our CI (no Docker engine there); kept correct by review. CUDA 12.8 runtime matches
# the cu128 torch wheels and drivers >= 570.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ARG DENO_VERSION=2.9.6
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    DENO_DIR=/opt/deno-cache \
    DENO_NO_UPDATE_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip ca-certificates curl unzip \
 && rm -rf /var/lib/apt/lists/* \
 && curl -fsSL "https://github.com/denoland/deno/releases/download/v${DENO_VERSION}/deno-x86_64-unknown-linux-gnu.zip" -o /tmp/deno.zip \
 && unzip /tmp/deno.zip -d /usr/local/bin && rm /tmp/deno.zip

RUN useradd --create-home --uid 1000 miner
WORKDIR /app

# Python deps first: they change least and are the largest layer. The CUDA torch wheel replaces the
# CPU pin used on developer machines.
COPY trainer/requirements.txt trainer/requirements.txt
RUN python3 -m venv .venv \
 && .venv/bin/pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cu128 torch==2.13.0 \
 && .venv/bin/pip install --no-cache-dir -r trainer/requirements.txt

COPY deno.json ./
COPY . .
RUN deno cache main.ts actors/gpu/gpu_worker.ts core/wallet_nacl_worker.ts \
 && mkdir -p /app/data /home/miner/.bittensor \
 && chown -R miner:miner /app/data /home/miner/.bittensor "$DENO_DIR"

USER miner
VOLUME ["/home/miner/.bittensor", "/app/data"]
EXPOSE 8001
ENTRYPOINT ["deno", "run", "-A", "main.ts"]
CMD ["start"]
