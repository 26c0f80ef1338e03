import type { ConnectionSummary } from './tcpReassembly';

/** How many connections went to each endpoint, for the first few endpoints; the rest counted together. */
export interface EndpointCounts {
  top: Array<[string, number]>;
  others: number;
}

/** What the diagnosis needs of a set of connections: counts, never the connections themselves. */
export interface ConnectionCounts {
  connections: number;
  packets: number;
  /** SYN answered by RST from the server: nothing listens. */
  refused: number;
  refusedTo: EndpointCounts;
  /** SYN without SYN-ACK or RST. */
  unanswered: number;
  unansweredTo: EndpointCounts;
  /** Reset (not refused), and by which side. */
  reset: number;
  resetByServer: number;
  resetByClient: number;
  startedMidway: number;
  /** Some connection got past the handshake or carried more than 3 packets. */
  withData: boolean;
}

const maxEndpoints = 16;

/** Folds connections, as they are let go, into ConnectionCounts: memory stays the same for 10 or 10 million. */
export class ConnectionTally {
  private readonly c: ConnectionCounts = {
    connections: 0,
    packets: 0,
    refused: 0,
    refusedTo: { top: [], others: 0 },
    unanswered: 0,
    unansweredTo: { top: [], others: 0 },
    reset: 0,
    resetByServer: 0,
    resetByClient: 0,
    startedMidway: 0,
    withData: false,
  };
  private readonly refusedTo = new Map<string, number>();
  private readonly unansweredTo = new Map<string, number>();

  add(s: ConnectionSummary): void {
    const c = this.c;
    c.connections++;
    c.packets += s.packets;
    const noAnswer = s.synSeen && !s.synAckSeen;
    if (noAnswer && s.resetBy.includes('b')) {
      c.refused++;
      bump(this.refusedTo, c.refusedTo, s.b, 1);
    } else {
      if (noAnswer) {
        c.unanswered++;
        bump(this.unansweredTo, c.unansweredTo, s.b, 1);
      }
      if (s.resetBy.length) {
        c.reset++;
        if (s.resetBy.includes('b')) c.resetByServer++;
        if (s.resetBy.includes('a')) c.resetByClient++;
      }
    }
    if (s.startedMidway) c.startedMidway++;
    if (s.synAckSeen || s.packets > 3) c.withData = true;
  }

  addAll(other: ConnectionTally): void {
    const c = this.c;
    const o = other.c;
    c.connections += o.connections;
    c.packets += o.packets;
    c.refused += o.refused;
    c.unanswered += o.unanswered;
    c.reset += o.reset;
    c.resetByServer += o.resetByServer;
    c.resetByClient += o.resetByClient;
    c.startedMidway += o.startedMidway;
    c.withData ||= o.withData;
    for (const [k, n] of other.refusedTo) bump(this.refusedTo, c.refusedTo, k, n);
    c.refusedTo.others += o.refusedTo.others;
    for (const [k, n] of other.unansweredTo) bump(this.unansweredTo, c.unansweredTo, k, n);
    c.unansweredTo.others += o.unansweredTo.others;
  }

  counts(): ConnectionCounts {
    return {
      ...this.c,
      refusedTo: { top: [...this.refusedTo], others: this.c.refusedTo.others },
      unansweredTo: { top: [...this.unansweredTo], others: this.c.unansweredTo.others },
    };
  }
}

function bump(map: Map<string, number>, counts: EndpointCounts, key: string, n: number): void {
  const had = map.get(key);
  if (had !== undefined) map.set(key, had + n);
  else if (map.size < maxEndpoints) map.set(key, n);
  else counts.others += n;
}
