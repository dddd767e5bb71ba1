// The training ops on WebGL2: not implemented. Fine-tuning needs backward passes, scatter-adds and
// AdamW, which a fragment shader (gather only, no atomics, f32 render targets) would run slowly
// and with reduction orders far from the other backends; stage 2 belongs on wasm or webgpu. The
// backend overrides fill, axpy and sumSquares, which inference (LoRA adapters) and stage 1 use.

import { LightReasonerError } from '../../errors.ts';
import type { AdamWStep, TrainingOps } from '../training.ts';
import type { Rows, Tensor } from '../types.ts';

function refuse(op: string): never {
  throw new LightReasonerError(
    'UNSUPPORTED',
    `the webgl2 backend runs inference and sampling only: ${op} (a fine-tuning op) is not implemented; fine-tune with --backend wasm (or webgpu)`,
  );
}

export abstract class WebGL2TrainingStubs implements TrainingOps {
  fill(_x: Tensor, _value: number): void {
    refuse('fill');
  }
  axpy(_x: Tensor, _y: Tensor, _alpha: number): void {
    refuse('axpy');
  }
  sumSquares(_x: Tensor, _out: Tensor): void {
    refuse('sumSquares');
  }
  matmulNN(_x: Tensor, _w: Tensor, _out: Tensor, _accumulate: boolean): void {
    refuse('matmulNN');
  }
  matmulTN(_a: Tensor, _b: Tensor, _out: Tensor, _alpha: number, _accumulate: boolean): void {
    refuse('matmulTN');
  }
  rmsNormBackward(_x: Tensor, _weight: Tensor, _dy: Tensor, _eps: number, _dx: Tensor): void {
    refuse('rmsNormBackward');
  }
  swigluBackward(_gate: Tensor, _up: Tensor, _dy: Tensor, _dgate: Tensor, _dup: Tensor): void {
    refuse('swigluBackward');
  }
  ropeBackward(_x: Tensor, _rows: Rows, _invFreq: Tensor, _heads: number, _headDim: number): void {
    refuse('ropeBackward');
  }
  attentionBackward(_q: Tensor, _k: Tensor, _v: Tensor, _rows: Rows, _out: Tensor, _dOut: Tensor, _dq: Tensor, _dk: Tensor, _dv: Tensor, _heads: number, _scale: number): void {
    refuse('attentionBackward');
  }
  scatterAddRows(_x: Tensor, _index: Tensor, _out: Tensor): void {
    refuse('scatterAddRows');
  }
  softLabelLoss(_logits: Tensor, _ids: Tensor, _weights: Tensor, _scale: number, _loss: Tensor, _dLogits: Tensor): void {
    refuse('softLabelLoss');
  }
  dropout(_x: Tensor, _out: Tensor, _p: number, _seed: number, _stream: number): void {
    refuse('dropout');
  }
  adamw(_param: Tensor, _grad: Tensor, _m: Tensor, _v: Tensor, _o: AdamWStep): void {
    refuse('adamw');
  }
}
