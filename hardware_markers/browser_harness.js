// The page side of the browser runtime: load onnxruntime-web, create sessions, run them,
// and hand tensors back as base64 of their raw bytes (much faster than JSON arrays).
window.__ipfs = {
  sessions: {},
  next: 1,
  typed: {float32: Float32Array, int64: BigInt64Array, int32: Int32Array, bool: Uint8Array,
          uint8: Uint8Array, int8: Int8Array, float16: Uint16Array},

  async load(url) {
    window.ort = await import(url);
    ort.env.logLevel = 'error';
    return {version: ort.env.versions && ort.env.versions.web, threads: ort.env.wasm.numThreads,
            crossOriginIsolated: self.crossOriginIsolated};
  },

  async create(url, ep) {
    const t0 = performance.now();
    const s = await ort.InferenceSession.create(url, {executionProviders: [ep], graphOptimizationLevel: 'all'});
    const id = this.next++;
    this.sessions[id] = s;
    return {id, inputNames: s.inputNames, outputNames: s.outputNames, ms: performance.now() - t0,
            threads: ort.env.wasm.numThreads};
  },

  // A session made and released at once: the preparation stage, timed by the caller.
  async compile(url, ep) {
    const made = await this.create(url, ep);
    await this.release(made.id);
    return made.ms;
  },

  bytes(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  },

  async base64(view) {
    const blob = new Blob([new Uint8Array(view.buffer, view.byteOffset, view.byteLength)]);
    const url = await new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
    return url.slice(url.indexOf(',') + 1);
  },

  feeds(session, inputs) {
    const feeds = {};
    for (const name of session.inputNames) {
      const x = inputs[name];
      if (!x) throw new Error(`the model takes input ${name}, which was not given`);
      const T = this.typed[x.type];
      if (!T) throw new Error(`input ${name}: no typed array for ${x.type}`);
      feeds[name] = new ort.Tensor(x.type, new T(this.bytes(x.b64).buffer), x.dims);
    }
    return feeds;
  },

  // Run `repeat` times; the time of each run (performance.now(), ms) and the last outputs.
  async run({id, inputs, repeat}) {
    const s = this.sessions[id];
    if (!s) throw new Error(`no session ${id} on this page (it was recreated)`);
    const feeds = this.feeds(s, inputs);
    const times = [];
    let out;
    for (let i = 0; i < (repeat || 1); i++) {
      const t0 = performance.now();
      out = await s.run(feeds);
      times.push(performance.now() - t0);
    }
    const outputs = {};
    for (const name of s.outputNames) {
      const t = out[name];
      const data = await t.getData();
      outputs[name] = {type: t.type, dims: Array.from(t.dims), b64: await this.base64(data)};
      if (t.dispose) t.dispose();
    }
    return {outputs, times};
  },

  async release(id) {
    const s = this.sessions[id];
    delete this.sessions[id];
    if (s) await s.release();
  },

  async probe() {
    const r = {userAgent: navigator.userAgent, crossOriginIsolated: self.crossOriginIsolated,
               hardwareConcurrency: navigator.hardwareConcurrency};
    if (!navigator.gpu) {
      r.webgpu = {error: 'navigator.gpu is undefined: this browser has WebGPU disabled'};
    } else {
      try {
        const a = await navigator.gpu.requestAdapter();
        if (!a) {
          r.webgpu = {error: 'navigator.gpu.requestAdapter() returned null: no WebGPU adapter'};
        } else {
          const i = a.info || (a.requestAdapterInfo ? await a.requestAdapterInfo() : {});
          r.webgpu = {vendor: i.vendor, architecture: i.architecture, device: i.device,
                      description: i.description,
                      isFallbackAdapter: a.isFallbackAdapter ?? i.isFallbackAdapter ?? null,
                      features: Array.from(a.features || []).sort(),
                      maxBufferSize: a.limits && a.limits.maxBufferSize};
        }
      } catch (e) {
        r.webgpu = {error: `${e.name}: ${e.message}`};
      }
    }
    if (!navigator.ml) {
      r.webnn = {error: 'navigator.ml is undefined: this browser has WebNN disabled'};
    } else {
      const errors = [];
      for (const deviceType of ['gpu', 'npu', 'cpu']) {
        try {
          await navigator.ml.createContext({deviceType});
          r.webnn = {deviceType};
          break;
        } catch (e) {
          errors.push(`${e.name}: ${e.message}`);
        }
      }
      if (!r.webnn) r.webnn = {error: [...new Set(errors)].join('; ')};
    }
    return r;
  },
};
