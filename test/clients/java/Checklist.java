/*
 * The drop-in checklist (../README.md) with the RabbitMQ Java client (Debian's
 * librabbitmq-client-java, amqp-client 5.0.0), automatic recovery off so that any broker error
 * shows.
 *
 * Usage: java -cp <classes>:amqp-client.jar:slf4j-api.jar Checklist <amqp-url> [<amqp-url-of-vhost-test>]
 * Compiled by test/ext/clients.test.ts with javac into a temp dir. Each check runs with a
 * deadline on an executor; a daemon watchdog ends the JVM.
 */
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.CancelCallback;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DeliverCallback;
import com.rabbitmq.client.Delivery;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.ShutdownSignalException;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

public class Checklist {
    static final long CHECK_MS = 15_000, WATCHDOG_MS = 90_000, IDLE_MS = 3_000;
    static final int HEARTBEAT_S = 1, CONFIRM_COUNT = 50, PREFETCH = 5, MIB = 1024 * 1024;
    static final List<String> TOPIC_KEYS = List.of("quick.orange.rabbit", "lazy.brown.fox", "quick.brown.fox", "lazy", "orange");
    static final List<String> TOPIC_MATCHED = List.of("quick.orange.rabbit", "lazy.brown.fox", "lazy");
    static final List<String> TOPIC_UNMATCHED = List.of("quick.brown.fox", "orange");

    /** Thrown by a check when the client lacks a feature. */
    static class Skip extends Exception {
        Skip(String why) { super(why); }
    }

    static class Failed extends Exception {
        Failed(String why) { super(why); }
    }

    interface Check {
        String run() throws Exception;
    }

    static void expect(boolean cond, String why) throws Failed {
        if (!cond) throw new Failed(why);
    }

    final String url, vhostUrl, p, topic, ae, dlx, work, topicQ, aeQ, dlq, rpc, nowhere;
    Connection conn;

    Checklist(String url, String vhostUrl) {
        this.url = url;
        this.vhostUrl = vhostUrl;
        byte[] b = new byte[3];
        new SecureRandom().nextBytes(b);
        p = String.format("dropin.java.%02x%02x%02x", b[0], b[1], b[2]);
        topic = p + ".topic"; ae = p + ".ae"; dlx = p + ".dlx"; work = p + ".work"; topicQ = p + ".topic-q";
        aeQ = p + ".ae-q"; dlq = p + ".dlq"; rpc = p + ".rpc"; nowhere = p + ".nowhere";
    }

    Map<String, Object> workArgs() {
        Map<String, Object> a = new HashMap<>();
        a.put("x-message-ttl", 600000);
        a.put("x-max-length", 1000);
        a.put("x-dead-letter-exchange", dlx);
        a.put("x-dead-letter-routing-key", "dead");
        a.put("x-expires", 600000);
        return a;
    }

    static Map<String, Object> otherArgs() {
        return Map.of("x-expires", 600000);
    }

    Connection connect(String u, int heartbeat) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setUri(u);
        f.setRequestedHeartbeat(heartbeat);
        f.setConnectionTimeout(5000);
        f.setHandshakeTimeout(10000);
        f.setAutomaticRecoveryEnabled(false);
        f.setTopologyRecoveryEnabled(false);
        return f.newConnection(p);
    }

    static List<GetResponse> getAll(Channel ch, String queue, int count) throws Exception {
        List<GetResponse> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + 5000;
        while (got.size() < count) {
            GetResponse r = ch.basicGet(queue, true);
            if (r != null) {
                got.add(r);
                continue;
            }
            if (System.currentTimeMillis() > deadline)
                throw new Failed("timed out waiting for " + count + " messages in " + queue + " (have " + got.size() + ")");
            Thread.sleep(10);
        }
        expect(ch.basicGet(queue, true) == null, "more than " + count + " messages in " + queue);
        return got;
    }

    static List<String> bodies(List<GetResponse> rs) {
        List<String> out = new ArrayList<>();
        for (GetResponse r : rs) out.add(new String(r.getBody()));
        return out;
    }

    static <T> T take(BlockingQueue<T> q, String what) throws Exception {
        T v = q.poll(5, TimeUnit.SECONDS);
        if (v == null) throw new Failed("timed out after 5 s waiting for " + what);
        return v;
    }

    static String s(Object v) {
        return v == null ? null : v.toString(); // LongString → String
    }

    String connectCheck() throws Exception {
        conn = connect(url, 0);
        conn.createChannel().close();
        Map<String, Object> sp = conn.getServerProperties();
        return "server " + s(sp.get("product")) + " " + s(sp.get("version"));
    }

    String connectVhost() throws Exception {
        if (vhostUrl == null) throw new Skip("the broker has no vhost \"test\" (see the test setup)");
        Connection c = connect(vhostUrl, 0);
        String q = c.createChannel().queueDeclare().getQueue();
        expect(q.startsWith("amq.gen-"), "server-named queue " + q);
        c.close();
        return null;
    }

    String heartbeat() throws Exception {
        Connection c = connect(url, HEARTBEAT_S);
        List<ShutdownSignalException> closes = new ArrayList<>();
        c.addShutdownListener(closes::add);
        expect(c.getHeartbeat() == HEARTBEAT_S, "negotiated heartbeat " + c.getHeartbeat() + ", asked " + HEARTBEAT_S);
        Thread.sleep(IDLE_MS);
        expect(c.isOpen() && closes.isEmpty(), "the connection closed while idle: " + closes);
        c.createChannel().queueDeclare();
        c.close();
        return c.getHeartbeat() + " s, idle " + IDLE_MS + " ms";
    }

    String declare() throws Exception {
        Channel ch = conn.createChannel();
        ch.exchangeDeclare(ae, "fanout", false, false, null);
        ch.exchangeDeclare(topic, "topic", false, false, Map.of("alternate-exchange", ae));
        ch.exchangeDeclare(dlx, "direct", false, false, null);
        AMQP.Queue.DeclareOk ok = ch.queueDeclare(work, false, false, false, workArgs());
        expect(ok.getQueue().equals(work) && ok.getMessageCount() == 0, "declare-ok " + ok);
        for (String q : List.of(topicQ, aeQ, dlq, rpc)) ch.queueDeclare(q, false, false, false, otherArgs());
        ch.queueDeclare(work, false, false, false, workArgs());
        ch.close();
        return null;
    }

    String bindTopic() throws Exception {
        Channel ch = conn.createChannel();
        ch.queueBind(topicQ, topic, "*.orange.*");
        ch.queueBind(topicQ, topic, "lazy.#");
        ch.queueBind(aeQ, ae, "");
        ch.queueBind(dlq, dlx, "dead");
        for (String key : TOPIC_KEYS) ch.basicPublish(topic, key, null, key.getBytes());
        List<String> matched = bodies(getAll(ch, topicQ, TOPIC_MATCHED.size()));
        expect(matched.equals(TOPIC_MATCHED), "topic queue got " + matched);
        List<String> other = bodies(getAll(ch, aeQ, TOPIC_UNMATCHED.size()));
        expect(other.equals(TOPIC_UNMATCHED), "alternate exchange got " + other);
        ch.close();
        return null;
    }

    String publishConfirm() throws Exception {
        Channel ch = conn.createChannel();
        ch.confirmSelect();
        int[] acked = {0}, nacked = {0};
        long[] last = {0};
        ch.addConfirmListener(
            (tag, multiple) -> { acked[0] += multiple ? (int) (tag - last[0]) : 1; last[0] = Math.max(last[0], tag); },
            (tag, multiple) -> { nacked[0] += multiple ? (int) (tag - last[0]) : 1; last[0] = Math.max(last[0], tag); });
        for (int i = 0; i < CONFIRM_COUNT; i++) {
            ch.basicPublish("", work, new AMQP.BasicProperties.Builder().deliveryMode(2).build(),
                String.valueOf(i).getBytes());
        }
        ch.waitForConfirmsOrDie(5000); // throws on a nack or after 5 s
        expect(acked[0] == CONFIRM_COUNT && nacked[0] == 0, acked[0] + " acks, " + nacked[0] + " nacks");
        int count = ch.queueDeclarePassive(work).getMessageCount();
        expect(count == CONFIRM_COUNT, "queue holds " + count);
        ch.close();
        return null;
    }

    String consumeAckPrefetch() throws Exception {
        Channel ch = conn.createChannel();
        ch.basicQos(PREFETCH);
        BlockingQueue<Delivery> deliveries = new LinkedBlockingQueue<>();
        String tag = ch.basicConsume(work, false, (DeliverCallback) (t, d) -> deliveries.add(d), (CancelCallback) t -> { });
        List<Delivery> held = new ArrayList<>();
        for (int i = 0; i < PREFETCH; i++) held.add(take(deliveries, "delivery " + (i + 1)));
        int ready = ch.queueDeclarePassive(work).getMessageCount();
        expect(deliveries.isEmpty(), deliveries.size() + " deliveries beyond prefetch " + PREFETCH);
        expect(ready == CONFIRM_COUNT - PREFETCH, "queue reports " + ready + " ready with " + PREFETCH + " unacked");
        List<String> got = new ArrayList<>();
        int redelivered = 0;
        for (Delivery d : held) {
            got.add(new String(d.getBody()));
            if (d.getEnvelope().isRedeliver()) redelivered++;
            ch.basicAck(d.getEnvelope().getDeliveryTag(), false);
        }
        while (got.size() < CONFIRM_COUNT) {
            Delivery d = take(deliveries, "delivery " + (got.size() + 1));
            got.add(new String(d.getBody()));
            if (d.getEnvelope().isRedeliver()) redelivered++;
            ch.basicAck(d.getEnvelope().getDeliveryTag(), false);
        }
        ch.basicCancel(tag);
        for (int i = 0; i < CONFIRM_COUNT; i++) expect(got.get(i).equals(String.valueOf(i)), "order " + got);
        expect(redelivered == 0, redelivered + " redelivered");
        int left = ch.queueDeclarePassive(work).getMessageCount();
        expect(left == 0, left + " left");
        ch.close();
        return null;
    }

    String nackRequeue() throws Exception {
        Channel ch = conn.createChannel();
        ch.basicQos(1);
        BlockingQueue<Delivery> deliveries = new LinkedBlockingQueue<>();
        String tag = ch.basicConsume(work, false, (DeliverCallback) (t, d) -> deliveries.add(d), (CancelCallback) t -> { });
        ch.basicPublish("", work, null, "nack-me".getBytes());
        Delivery first = take(deliveries, "the delivery");
        ch.basicNack(first.getEnvelope().getDeliveryTag(), false, true);
        Delivery second = take(deliveries, "the redelivery");
        ch.basicAck(second.getEnvelope().getDeliveryTag(), false);
        expect(!first.getEnvelope().isRedeliver() && second.getEnvelope().isRedeliver()
            && new String(second.getBody()).equals("nack-me"),
            "redelivered flags " + first.getEnvelope().isRedeliver() + ", " + second.getEnvelope().isRedeliver());
        ch.basicCancel(tag);
        ch.close();
        return null;
    }

    @SuppressWarnings("unchecked")
    String rejectDlx() throws Exception {
        Channel ch = conn.createChannel();
        ch.basicPublish("", work, null, "reject-me".getBytes());
        GetResponse m = null;
        for (int i = 0; m == null && i < 500; i++) {
            m = ch.basicGet(work, false);
            if (m == null) Thread.sleep(10);
        }
        expect(m != null, "the message to reject never came");
        ch.basicReject(m.getEnvelope().getDeliveryTag(), false);
        GetResponse dead = getAll(ch, dlq, 1).get(0);
        expect(new String(dead.getBody()).equals("reject-me") && dead.getEnvelope().getExchange().equals(dlx)
            && dead.getEnvelope().getRoutingKey().equals("dead"),
            "dead letter came via " + dead.getEnvelope().getExchange() + "/" + dead.getEnvelope().getRoutingKey());
        Map<String, Object> h = dead.getProps().getHeaders();
        expect(h != null, "no headers on the dead letter");
        List<Object> deaths = (List<Object>) h.get("x-death");
        expect(deaths != null && deaths.size() == 1, "x-death is " + deaths);
        Map<String, Object> d = (Map<String, Object>) deaths.get(0);
        List<Object> keys = (List<Object>) d.get("routing-keys");
        expect(Long.valueOf(1).equals(d.get("count")) && "rejected".equals(s(d.get("reason"))) && work.equals(s(d.get("queue")))
            && "".equals(s(d.get("exchange"))) && keys != null && keys.size() == 1 && work.equals(s(keys.get(0))),
            "x-death[0] is " + d);
        expect(d.get("time") instanceof Date, "x-death[0].time is " + d.get("time"));
        expect("rejected".equals(s(h.get("x-first-death-reason"))) && work.equals(s(h.get("x-first-death-queue"))),
            "x-first-death-* are " + h.get("x-first-death-reason") + ", " + h.get("x-first-death-queue"));
        ch.close();
        return null;
    }

    String mandatoryReturn() throws Exception {
        Channel ch = conn.createChannel();
        BlockingQueue<Object[]> returns = new LinkedBlockingQueue<>();
        ch.addReturnListener((code, text, exchange, key, props, body) -> returns.add(new Object[] {code, text, key, new String(body)}));
        ch.confirmSelect();
        ch.basicPublish("", nowhere, true, null, "to nowhere".getBytes());
        Object[] r = take(returns, "basic.return");
        ch.waitForConfirmsOrDie(5000);
        expect(Arrays.equals(r, new Object[] {312, "NO_ROUTE", nowhere, "to nowhere"}), "returned " + Arrays.toString(r));
        ch.close();
        return null;
    }

    String rpcCheck() throws Exception {
        Connection serverConn = connect(url, 0);
        Channel server = serverConn.createChannel();
        BlockingQueue<String> replyTos = new LinkedBlockingQueue<>();
        server.basicConsume(rpc, false, (DeliverCallback) (t, d) -> {
            AMQP.BasicProperties props = d.getProperties();
            replyTos.add(props.getReplyTo());
            AMQP.BasicProperties reply = new AMQP.BasicProperties.Builder().correlationId(props.getCorrelationId()).build();
            server.basicPublish("", props.getReplyTo(), reply, ("pong " + new String(d.getBody())).getBytes());
            server.basicAck(d.getEnvelope().getDeliveryTag(), false);
        }, (CancelCallback) t -> { });
        Channel client = conn.createChannel();
        Map<String, String> answers = new ConcurrentHashMap<>();
        BlockingQueue<String> arrived = new LinkedBlockingQueue<>();
        client.basicConsume("amq.rabbitmq.reply-to", true, (DeliverCallback) (t, d) -> {
            answers.put(d.getProperties().getCorrelationId(), new String(d.getBody()));
            arrived.add(d.getProperties().getCorrelationId());
        }, (CancelCallback) t -> { });
        for (int i = 0; i < 3; i++) {
            AMQP.BasicProperties props = new AMQP.BasicProperties.Builder()
                .replyTo("amq.rabbitmq.reply-to").correlationId("c" + i).build();
            client.basicPublish("", rpc, props, ("ping " + i).getBytes());
        }
        for (int i = 0; i < 3; i++) take(arrived, "answer " + (i + 1));
        for (int i = 0; i < 3; i++) expect(("pong ping " + i).equals(answers.get("c" + i)), "answers " + answers);
        for (int i = 0; i < 3; i++) {
            String rt = take(replyTos, "reply_to");
            expect(rt.startsWith("amq.rabbitmq.reply-to."), "server saw reply_to " + rt);
        }
        client.close();
        serverConn.close();
        return "direct reply-to";
    }

    String largeMessage() throws Exception {
        Channel ch = conn.createChannel();
        ch.confirmSelect();
        byte[] body = new byte[MIB];
        new SecureRandom().nextBytes(body);
        ch.basicPublish("", work, null, body);
        ch.waitForConfirmsOrDie(5000);
        byte[] got = getAll(ch, work, 1).get(0).getBody();
        expect(Arrays.equals(got, body), "got " + got.length + " bytes, not the " + body.length + " sent");
        ch.close();
        return null;
    }

    String close() throws Exception {
        Channel ch = conn.createChannel();
        for (String q : List.of(work, topicQ, aeQ, dlq, rpc)) ch.queueDelete(q);
        for (String x : List.of(topic, ae, dlx)) ch.exchangeDelete(x);
        ch.close();
        conn.close(5000);
        ShutdownSignalException cause = conn.getCloseReason();
        expect(cause != null && cause.isInitiatedByApplication(), "closed by " + cause);
        return null;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: Checklist <amqp-url> [<amqp-url-of-vhost-test>]");
            System.exit(2);
        }
        Checklist c = new Checklist(args[0], args.length == 2 && !args[1].isEmpty() ? args[1] : null);
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(WATCHDOG_MS);
                System.out.println("FAIL watchdog: still running after " + WATCHDOG_MS + " ms");
                System.out.flush();
                Runtime.getRuntime().halt(3);
            } catch (InterruptedException e) {
                // done in time
            }
        });
        watchdog.setDaemon(true);
        watchdog.start();

        Object[][] checks = {
            {"connect", (Check) c::connectCheck}, {"connect-vhost", (Check) c::connectVhost}, {"heartbeat", (Check) c::heartbeat},
            {"declare", (Check) c::declare}, {"bind-topic", (Check) c::bindTopic}, {"publish-confirm", (Check) c::publishConfirm},
            {"consume-ack-prefetch", (Check) c::consumeAckPrefetch}, {"nack-requeue", (Check) c::nackRequeue},
            {"reject-dlx", (Check) c::rejectDlx}, {"mandatory-return", (Check) c::mandatoryReturn}, {"rpc", (Check) c::rpcCheck},
            {"large-message", (Check) c::largeMessage}, {"close", (Check) c::close},
        };
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        int ok = 0, skipped = 0, failed = 0;
        String abort = null;
        for (Object[] check : checks) {
            String name = (String) check[0];
            if (abort != null) {
                System.out.println("FAIL " + name + ": not run: " + abort);
                failed++;
                continue;
            }
            long started = System.nanoTime();
            Future<String> f = pool.submit(((Check) check[1])::run);
            try {
                String note = f.get(CHECK_MS, TimeUnit.MILLISECONDS);
                long ms = (System.nanoTime() - started) / 1_000_000;
                System.out.println("ok " + name + " (" + ms + " ms" + (note != null ? ", " + note : "") + ")");
                ok++;
            } catch (TimeoutException e) {
                f.cancel(true);
                System.out.println("FAIL " + name + ": timed out after " + CHECK_MS + " ms");
                failed++;
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof Skip) {
                    System.out.println("skip " + name + ": " + cause.getMessage());
                    skipped++;
                    continue;
                }
                String why = cause instanceof Failed ? cause.getMessage() : cause.toString();
                System.out.println("FAIL " + name + ": " + why.replace('\n', ' '));
                if (!(cause instanceof Failed)) cause.printStackTrace();
                failed++;
                if (name.equals("connect")) abort = "connect failed";
            }
        }
        System.out.println("summary: " + ok + " ok, " + skipped + " skip, " + failed + " FAIL");
        System.out.flush();
        System.exit(failed > 0 ? 1 : 0);
    }
}
