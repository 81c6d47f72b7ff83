/**
 * confirm.select and tx.select / commit / rollback. A channel is in at most one of the two
 * modes (rabbitmq-compat: 406 "cannot switch from tx to confirm mode" and back).
 */
import { preconditionFailed } from '../../broker/errors.js';
import * as P from '../../protocol/generated.js';
import type { Channel } from '../channel.js';
import { routeAndEnqueue } from './basic.js';
import { unexpected } from './exchange.js';

export function handleConfirm(ch: Channel, m: P.Method): void {
  if (m.id !== P.CONFIRM_SELECT) throw unexpected(m);
  if (ch.txMode) throw preconditionFailed('cannot switch from tx to confirm mode');
  ch.confirmMode = true;
  if (!m.args.nowait) ch.connection.send(ch.id, P.encodeConfirmSelectOk, {});
}

export function handleTx(ch: Channel, m: P.Method): void {
  const conn = ch.connection;
  switch (m.id) {
    case P.TX_SELECT:
      if (ch.confirmMode) throw preconditionFailed('cannot switch from confirm to tx mode');
      ch.txMode = true;
      conn.send(ch.id, P.encodeTxSelectOk, {});
      return;
    case P.TX_COMMIT: {
      if (!ch.txMode) throw preconditionFailed('channel is not transactional');
      const publishes = ch.txPublishes;
      const actions = ch.txActions;
      ch.txPublishes = [];
      ch.txActions = [];
      for (const p of publishes) routeAndEnqueue(ch, p.msg, p.mandatory, 0);
      const touched = new Set<import('../../broker/queue.js').Queue>();
      for (const a of actions) {
        for (const x of a.items) {
          if (a.kind === 'ack') ch.settleAck(x);
          else ch.settleReject(x, a.requeue);
          touched.add(x.queue);
        }
      }
      ch.resumeDeliveries(touched);
      // persistent messages of the commit must be on disk before commit-ok
      if (publishes.some((p) => p.msg.storeId !== 0)) ch.commitOkAfterSync();
      else conn.send(ch.id, P.encodeTxCommitOk, {});
      return;
    }
    case P.TX_ROLLBACK: {
      if (!ch.txMode) throw preconditionFailed('channel is not transactional');
      const actions = ch.txActions;
      ch.txPublishes = [];
      ch.txActions = [];
      // acks and rejects that were held are undone: those deliveries are unacked again
      for (const a of actions) ch.restoreUnacked(a.items);
      conn.send(ch.id, P.encodeTxRollbackOk, {});
      return;
    }
  }
  throw unexpected(m);
}
