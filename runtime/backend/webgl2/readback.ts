// Reading a store texture (R32F, one element per texel, row-major) back to the CPU. WebGL2 can
// read a float color buffer only as RGBA/FLOAT, so a row of w texels comes back as 4w floats.
// The read goes through a pixel-pack buffer and a fence: readPixels into a buffer returns at once,
// and the page polls the fence instead of stalling the GPU pipeline (WebGL's synchronous
// readPixels blocks the main thread until every queued draw is done). Where fences misbehave the
// buffer is read anyway after a bounded wait, which is then a synchronous stall, not an error.

import type { GpuTexture } from './gpujs.ts';

const POLL_LIMIT_MS = 30_000;

export class Reader {
  private fb: WebGLFramebuffer | null = null;

  constructor(private readonly gl: WebGL2RenderingContext) {}

  /** The first `count` elements of a store texture. */
  async read(tex: GpuTexture, count: number): Promise<Float32Array> {
    const out = new Float32Array(count);
    if (count === 0) return out;
    const { gl } = this;
    const w = tex.size[0];
    const rows = Math.ceil(count / w);
    const bytes = w * rows * 16;
    this.fb ??= gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.fb);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex.texture, 0);
    const pbo = gl.createBuffer();
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, pbo);
    gl.bufferData(gl.PIXEL_PACK_BUFFER, bytes, gl.STREAM_READ);
    gl.readPixels(0, 0, w, rows, gl.RGBA, gl.FLOAT, 0);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    const sync = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
    gl.flush();
    try {
      if (sync) await this.wait(sync);
      const rgba = new Float32Array(w * rows * 4);
      gl.bindBuffer(gl.PIXEL_PACK_BUFFER, pbo);
      gl.getBufferSubData(gl.PIXEL_PACK_BUFFER, 0, rgba);
      gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
      for (let i = 0; i < count; i++) out[i] = rgba[i * 4];
    } finally {
      if (sync) gl.deleteSync(sync);
      gl.deleteBuffer(pbo);
    }
    this.checkError();
    return out;
  }

  /** Poll the fence between tasks (a MessageChannel hop is ~0.1 ms; setTimeout clamps to 4 ms). */
  private async wait(sync: WebGLSync): Promise<void> {
    const { gl } = this;
    const t0 = Date.now();
    for (;;) {
      const s = gl.clientWaitSync(sync, 0, 0);
      if (s === gl.ALREADY_SIGNALED || s === gl.CONDITION_SATISFIED || s === gl.WAIT_FAILED) return;
      if (Date.now() - t0 > POLL_LIMIT_MS) return;
      await nextTask();
    }
  }

  /** A lost context or a failed draw surfaces here, at the read, as the WebGPU backend does. */
  checkError(): void {
    const { gl } = this;
    if (gl.isContextLost()) throw new Error('WebGL2 context lost (the GPU was reset or the page used too much GPU memory)');
    const e = gl.getError();
    if (e !== gl.NO_ERROR) throw new Error(`WebGL2 error 0x${e.toString(16)} during the queued kernels`);
  }

  dispose(): void {
    if (this.fb) this.gl.deleteFramebuffer(this.fb);
    this.fb = null;
  }
}

function nextTask(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((r) => setTimeout(r, 0));
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}
