"""satori-miner trainer: text and FLUX image LoRA, driven as a subprocess (see README.md)."""
