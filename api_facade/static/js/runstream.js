// A run's event stream over its WebSocket, resumable after a dropped connection.
//
// Each message carries `seq`, contiguous per run.  After a drop the stream
// reconnects with ?since=<last seq seen> and drops any message whose seq it
// already handled, so every event reaches the view exactly once whether the
// server counts `since` inclusively or not.  The stream ends on RunFinished.

import { api, ApiError, openSocket } from "./api.js";

const BACKOFF_MS = [250, 500, 1000, 2000, 4000];

export class RunStream {
  /**
   * @param {string} runId
   * @param {(event: object) => void} onEvent  called once per event, in seq order
   * @param {(state: string, detail?: string) => void} onState  connecting|live|reconnecting|finished|failed
   * @param {string} area  the API area of the run's kind ("/api/test", "/api/benchmark", ...)
   */
  constructor(runId, onEvent, onState = () => {}, area = "/api/test") {
    this.runId = runId;
    this.area = area;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastSeq = null;
    this.finished = false;
    this.stopped = false;
    this.connects = 0; // how many sockets were opened (the first plus resumes)
    this.duplicatesDropped = 0;
    this.delivered = 0; // events handed to the view: with seq from 1, equals lastSeq when none was lost
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
  }

  start() {
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "view closed");
  }

  connect() {
    if (this.stopped || this.finished) return;
    this.onState(this.connects === 0 ? "connecting" : "reconnecting");
    const params = this.lastSeq === null ? {} : { since: this.lastSeq };
    let opened = false;
    const socket = openSocket(`${this.area}/ws/${encodeURIComponent(this.runId)}`, params);
    this.socket = socket;
    socket.onopen = () => {
      opened = true;
      this.connects += 1;
      this.attempt = 0;
      this.onState("live");
    };
    socket.onmessage = (message) => this.handle(message.data);
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped || this.finished) return;
      if (!opened || close.code === 1008) {
        // a refused handshake hides its reason from scripts: ask the REST side why
        this.diagnose();
        return;
      }
      this.retry();
    };
  }

  handle(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return; // not ours to show; the server only sends JSON
    }
    if (typeof event.seq === "number") {
      if (this.lastSeq !== null && event.seq <= this.lastSeq) {
        this.duplicatesDropped += 1;
        return;
      }
      this.lastSeq = event.seq;
    }
    if (event["$report_type"] === "RunFinished") this.finished = true;
    this.delivered += 1;
    this.onEvent(event);
    if (this.finished) this.onState("finished", event.status);
  }

  retry() {
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.onState("reconnecting");
    this.timer = setTimeout(() => this.connect(), delay);
  }

  async diagnose() {
    try {
      await api(`${this.area}/status/${encodeURIComponent(this.runId)}`);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 404 || err.status === 403)) {
        this.onState("failed", err.message);
        return;
      }
    }
    // the run exists and the token is good: a transient failure, try again
    if (this.attempt < 30) this.retry();
    else this.onState("failed", "cannot open the run's event stream");
  }
}
