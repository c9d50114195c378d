"""EMULATOR STAND-IN for the text-to-image chain. No model is loaded: checkpoints are names,
conditioning is the prompt text, and KSampler paints a deterministic pattern (see pattern.py)
while reporting per-step progress like a real sampler."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from PIL import Image

from . import pattern
from .base import FLOAT, INT, MAX_RESOLUTION, Node

STANDIN = "EMULATOR STAND-IN: no model is loaded. "
SAMPLERS = [
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "dpm_2",
    "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis", "res_multistep",
    "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp",
    "gradient_estimation", "er_sde", "seeds_2", "seeds_3", "ddim", "uni_pc", "uni_pc_bh2",
]
SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
              "linear_quadratic", "kl_optimal"]


@dataclass(frozen=True)
class FakeModel:
    kind: str  # MODEL, CLIP or VAE
    ckpt_name: str

    def __str__(self) -> str:
        return f"<emulator {self.kind} {self.ckpt_name}>"


@dataclass
class Latent:
    """LATENT: a size plus, after VAEEncode or KSampler, the pictures it stands for."""

    width: int
    height: int
    batch_size: int
    images: list[Image.Image] | None = None

    def __str__(self) -> str:
        return f"<emulator LATENT {self.batch_size}x{self.width}x{self.height}>"


class CheckpointLoaderSimple(Node):
    DISPLAY_NAME = "Load Checkpoint"
    CATEGORY = "loaders"
    DESCRIPTION = STANDIN + ("Returns placeholder MODEL, CLIP and VAE handles named after the checkpoint. "
                             "One checkpoint stays loaded; another takes the configured model-load time.")
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")

    @classmethod
    def input_types(cls, env):
        return {"required": {"ckpt_name": (list(env.config.checkpoints),
                                           {"tooltip": "The name of the checkpoint (model) to load."})}}

    async def run(self, ctx, ckpt_name):
        if ctx.env.loaded_checkpoint != ckpt_name:
            ctx.env.loaded_checkpoint = None  # the old one is evicted first
            if ctx.model_load_s > 0:
                await asyncio.sleep(ctx.model_load_s)  # not interruptible, like a real load
            ctx.env.loaded_checkpoint = ckpt_name
            ctx.model_loaded(ctx.model_load_s)
        return tuple(FakeModel(kind, ckpt_name) for kind in ("MODEL", "CLIP", "VAE"))


class LoraLoader(Node):
    DISPLAY_NAME = "Load LoRA"
    CATEGORY = "loaders"
    DESCRIPTION = STANDIN + "Passes MODEL and CLIP through; the LoRA is only a name."
    RETURN_TYPES = ("MODEL", "CLIP")

    @classmethod
    def input_types(cls, env):
        return {"required": {"model": ("MODEL",), "clip": ("CLIP",), "lora_name": (list(env.config.loras),),
                             "strength_model": FLOAT(1.0, -100.0, 100.0), "strength_clip": FLOAT(1.0, -100.0, 100.0)}}

    def run(self, ctx, model, clip, lora_name, strength_model, strength_clip):
        return (model, clip)


class CLIPTextEncode(Node):
    DISPLAY_NAME = "CLIP Text Encode (Prompt)"
    CATEGORY = "conditioning"
    DESCRIPTION = STANDIN + "The conditioning is the prompt text itself."
    RETURN_TYPES = ("CONDITIONING",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"text": ("STRING", {"multiline": True, "dynamicPrompts": True}), "clip": ("CLIP",)}}

    def run(self, ctx, text, clip):
        return ([{"text": text, "model": clip.ckpt_name}],)


class EmptyLatentImage(Node):
    DISPLAY_NAME = "Empty Latent Image"
    CATEGORY = "latent"
    DESCRIPTION = STANDIN + "An empty canvas size for KSampler."
    RETURN_TYPES = ("LATENT",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"width": INT(512, 16, MAX_RESOLUTION, 8), "height": INT(512, 16, MAX_RESOLUTION, 8),
                             "batch_size": INT(1, 1, 4096)}}

    def run(self, ctx, width, height, batch_size):
        return (Latent(width, height, batch_size),)


class VAEEncode(Node):
    DISPLAY_NAME = "VAE Encode"
    CATEGORY = "latent"
    DESCRIPTION = STANDIN + "Keeps the pixels so KSampler with denoise < 1 can blend them (img2img)."
    RETURN_TYPES = ("LATENT",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",)}}

    def run(self, ctx, pixels, vae):
        w, h = pixels[0].size
        w8, h8 = max(8, w // 8 * 8), max(8, h // 8 * 8)  # real VAEs crop to multiples of 8
        return (Latent(w8, h8, len(pixels), [p.crop((0, 0, w8, h8)) for p in pixels]),)


class KSampler(Node):
    DISPLAY_NAME = "KSampler"
    CATEGORY = "sampling"
    DESCRIPTION = STANDIN + "Paints a pattern derived from seed, positive prompt and checkpoint, one progress event per step."
    RETURN_TYPES = ("LATENT",)
    OWN_LATENCY = True

    @classmethod
    def input_types(cls, env):
        return {"required": {
            "model": ("MODEL",),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True}),
            "steps": INT(20, 1, 10000),
            "cfg": FLOAT(8.0, 0.0, 100.0, 0.1, round=0.01),
            "sampler_name": (SAMPLERS,),
            "scheduler": (SCHEDULERS,),
            "positive": ("CONDITIONING",),
            "negative": ("CONDITIONING",),
            "latent_image": ("LATENT",),
            "denoise": FLOAT(1.0, 0.0, 1.0),
        }}

    async def run(self, ctx, model, seed, steps, cfg, sampler_name, scheduler, positive, negative,
                  latent_image, denoise):
        # Latency is spread over the steps, with an interrupt check per step like a real sampler.
        per_step = ctx.latency_s / steps if steps else 0.0
        for step in range(steps):
            ctx.check_interrupt()
            if per_step > 0:
                await asyncio.sleep(per_step)
            await ctx.progress(step + 1, steps)
        ctx.check_interrupt()
        text = " ".join(str(c.get("text", "")) for c in positive)
        images = await asyncio.to_thread(self._paint, seed, text, model.ckpt_name, latent_image, denoise)
        return (Latent(latent_image.width, latent_image.height, latent_image.batch_size, images),)

    @staticmethod
    def _paint(seed, text, ckpt, latent: Latent, denoise):
        out = []
        for index in range(latent.batch_size):
            picture = pattern.render(seed + index, text, ckpt, latent.width, latent.height)
            if latent.images and denoise < 1.0:
                picture = pattern.img2img(latent.images[index % len(latent.images)], picture, denoise)
            out.append(picture)
        return out


class VAEDecode(Node):
    DISPLAY_NAME = "VAE Decode"
    CATEGORY = "latent"
    DESCRIPTION = STANDIN + "Returns the pictures carried by the latent (grey for an unsampled empty latent)."
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"samples": ("LATENT",), "vae": ("VAE",)}}

    def run(self, ctx, samples, vae):
        if samples.images:
            return ([i.copy() for i in samples.images],)
        return ([Image.new("RGB", (samples.width, samples.height), (128, 128, 128)) for _ in range(samples.batch_size)],)


NODES: dict[str, type[Node]] = {n.__name__: n for n in (
    CheckpointLoaderSimple, LoraLoader, CLIPTextEncode, EmptyLatentImage, VAEEncode, KSampler, VAEDecode,
)}
