// The drop-in checklist (../README.md) with amqp091-go, the RabbitMQ team's Go client.
//
// Usage: checklist <amqp-url> [<amqp-url-of-vhost-test>]
//
// Built by test/ext/clients.test.ts in GOPATH mode against Debian's
// golang-github-rabbitmq-amqp091-go-dev (no network):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode:$TMP go build -o $TMP/checklist-go checklist.go
//
// Each check runs in its own goroutine with a deadline; a watchdog ends the process.
package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	checkTimeout = 15 * time.Second
	watchdog     = 90 * time.Second
	heartbeat    = 1 * time.Second
	idle         = 3 * time.Second
	confirmCount = 50
	prefetch     = 5
	mib          = 1024 * 1024
)

var (
	topicKeys      = []string{"quick.orange.rabbit", "lazy.brown.fox", "quick.brown.fox", "lazy", "orange"}
	topicMatched   = []string{"quick.orange.rabbit", "lazy.brown.fox", "lazy"}
	topicUnmatched = []string{"quick.brown.fox", "orange"}
)

// skip is returned by a check when the client lacks a feature.
type skip string

func (s skip) Error() string { return string(s) }

func fail(format string, args ...interface{}) error { return fmt.Errorf(format, args...) }

type names struct {
	prefix, topic, ae, dlx, work, topicQ, aeQ, dlq, rpc, nowhere string
}

func newNames() names {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	p := fmt.Sprintf("dropin.amqp091-go.%x", b)
	return names{p, p + ".topic", p + ".ae", p + ".dlx", p + ".work", p + ".topic-q", p + ".ae-q", p + ".dlq", p + ".rpc", p + ".nowhere"}
}

func (n names) queues() []string    { return []string{n.work, n.topicQ, n.aeQ, n.dlq, n.rpc} }
func (n names) exchanges() []string { return []string{n.topic, n.ae, n.dlx} }

func (n names) workArgs() amqp.Table {
	return amqp.Table{
		"x-message-ttl":             int32(600000),
		"x-max-length":              int32(1000),
		"x-dead-letter-exchange":    n.dlx,
		"x-dead-letter-routing-key": "dead",
		"x-expires":                 int32(600000),
	}
}

var otherArgs = amqp.Table{"x-expires": int32(600000)}

type run struct {
	url, vhostURL string
	n             names
	conn          *amqp.Connection
	closed        chan *amqp.Error
}

func (r *run) dial(url string, hb time.Duration) (*amqp.Connection, error) {
	return amqp.DialConfig(url, amqp.Config{
		Heartbeat:  hb,
		Properties: amqp.Table{"connection_name": r.n.prefix},
		Dial:       amqp.DefaultDial(5 * time.Second),
	})
}

// getAll takes `count` messages with basic.get (auto-ack), polling for up to 5 s.
func getAll(ch *amqp.Channel, queue string, count int) ([]amqp.Delivery, error) {
	var got []amqp.Delivery
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < count {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			return nil, err
		}
		if ok {
			got = append(got, d)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fail("timed out waiting for %d messages in %s (have %d)", count, queue, len(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok, _ := ch.Get(queue, true); ok {
		return nil, fail("more than %d messages in %s", count, queue)
	}
	return got, nil
}

func bodies(ds []amqp.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d.Body)
	}
	return out
}

func wait[T any](c <-chan T, what string) (T, error) {
	select {
	case v := <-c:
		return v, nil
	case <-time.After(5 * time.Second):
		var zero T
		return zero, fail("timed out after 5 s waiting for %s", what)
	}
}

func (r *run) connect() (string, error) {
	c, err := r.dial(r.url, 0)
	if err != nil {
		return "", err
	}
	r.conn = c
	r.closed = c.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := c.Channel()
	if err != nil {
		return "", err
	}
	if err := ch.Close(); err != nil {
		return "", err
	}
	return fmt.Sprintf("server %v %v", c.Properties["product"], c.Properties["version"]), nil
}

func (r *run) connectVhost() (string, error) {
	if r.vhostURL == "" {
		return "", skip(`the broker has no vhost "test" (see the test setup)`)
	}
	c, err := r.dial(r.vhostURL, 0)
	if err != nil {
		return "", err
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		return "", err
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(q.Name, "amq.gen-") {
		return "", fail("server-named queue %s", q.Name)
	}
	return "", c.Close()
}

func (r *run) heartbeat() (string, error) {
	c, err := r.dial(r.url, heartbeat)
	if err != nil {
		return "", err
	}
	closed := c.NotifyClose(make(chan *amqp.Error, 1))
	if c.Config.Heartbeat != heartbeat { // the negotiated value
		return "", fail("negotiated heartbeat %v, asked %v", c.Config.Heartbeat, heartbeat)
	}
	select {
	case e := <-closed:
		return "", fail("the connection closed while idle: %v", e)
	case <-time.After(idle):
	}
	ch, err := c.Channel()
	if err != nil {
		return "", err
	}
	if _, err := ch.QueueDeclare("", false, true, true, false, nil); err != nil {
		return "", err
	}
	return fmt.Sprintf("%v, idle %v", c.Config.Heartbeat, idle), c.Close()
}

func (r *run) declare() (string, error) {
	n := r.n
	ch, err := r.conn.Channel()
	if err != nil {
		return "", err
	}
	if err := ch.ExchangeDeclare(n.ae, "fanout", false, false, false, false, nil); err != nil {
		return "", err
	}
	if err := ch.ExchangeDeclare(n.topic, "topic", false, false, false, false, amqp.Table{"alternate-exchange": n.ae}); err != nil {
		return "", err
	}
	if err := ch.ExchangeDeclare(n.dlx, "direct", false, false, false, false, nil); err != nil {
		return "", err
	}
	q, err := ch.QueueDeclare(n.work, false, false, false, false, n.workArgs())
	if err != nil {
		return "", err
	}
	if q.Name != n.work || q.Messages != 0 {
		return "", fail("declare-ok %+v", q)
	}
	for _, name := range []string{n.topicQ, n.aeQ, n.dlq, n.rpc} {
		if _, err := ch.QueueDeclare(name, false, false, false, false, otherArgs); err != nil {
			return "", err
		}
	}
	if _, err := ch.QueueDeclare(n.work, false, false, false, false, n.workArgs()); err != nil {
		return "", err
	}
	return "", ch.Close()
}

func (r *run) bindTopic() (string, error) {
	n := r.n
	ch, err := r.conn.Channel()
	if err != nil {
		return "", err
	}
	for _, b := range [][3]string{{n.topicQ, "*.orange.*", n.topic}, {n.topicQ, "lazy.#", n.topic}, {n.aeQ, "", n.ae}, {n.dlq, "dead", n.dlx}} {
		if err := ch.QueueBind(b[0], b[1], b[2], false, nil); err != nil {
			return "", err
		}
	}
	for _, key := range topicKeys {
		if err := ch.Publish(n.topic, key, false, false, amqp.Publishing{Body: []byte(key)}); err != nil {
			return "", err
		}
	}
	matched, err := getAll(ch, n.topicQ, len(topicMatched))
	if err != nil {
		return "", err
	}
	if !reflect.DeepEqual(bodies(matched), topicMatched) {
		return "", fail("topic queue got %v", bodies(matched))
	}
	other, err := getAll(ch, n.aeQ, len(topicUnmatched))
	if err != nil {
		return "", err
	}
	if !reflect.DeepEqual(bodies(other), topicUnmatched) {
		return "", fail("alternate exchange got %v", bodies(other))
	}
	return "", ch.Close()
}

func (r *run) publishConfirm() (string, error) {
	ch, err := r.conn.Channel()
	if err != nil {
		return "", err
	}
	if err := ch.Confirm(false); err != nil {
		return "", err
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, confirmCount))
	for i := 0; i < confirmCount; i++ {
		msg := amqp.Publishing{Body: []byte(fmt.Sprint(i)), DeliveryMode: amqp.Persistent}
		if err := ch.Publish("", r.n.work, false, false, msg); err != nil {
			return "", err
		}
	}
	acks := 0
	for i := 0; i < confirmCount; i++ {
		c, err := wait(confirms, fmt.Sprintf("confirm %d", i+1))
		if err != nil {
			return "", err
		}
		if c.Ack {
			acks++
		}
	}
	if acks != confirmCount {
		return "", fail("%d acks of %d", acks, confirmCount)
	}
	q, err := ch.QueueDeclarePassive(r.n.work, false, false, false, false, r.n.workArgs())
	if err != nil {
		return "", err
	}
	if q.Messages != confirmCount {
		return "", fail("queue holds %d", q.Messages)
	}
	return "", ch.Close()
}

func (r *run) consumeAckPrefetch() (string, error) {
	n := r.n
	ch, err := r.conn.Channel()
	if err != nil {
		return "", err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return "", err
	}
	deliveries, err := ch.Consume(n.work, "checklist", false, false, false, false, nil)
	if err != nil {
		return "", err
	}
	var got []string
	var held []amqp.Delivery
	for len(held) < prefetch {
		d, err := wait(deliveries, fmt.Sprintf("delivery %d", len(held)+1))
		if err != nil {
			return "", err
		}
		held = append(held, d)
	}
	q, err := ch.QueueDeclarePassive(n.work, false, false, false, false, n.workArgs())
	if err != nil {
		return "", err
	}
	// nothing more may have arrived with prefetch 5 and nothing acked
	if extra := len(deliveries); extra != 0 {
		return "", fail("%d deliveries beyond prefetch %d", extra, prefetch)
	}
	if q.Messages != confirmCount-prefetch {
		return "", fail("queue reports %d ready with %d unacked", q.Messages, prefetch)
	}
	redelivered := 0
	for _, d := range held {
		got = append(got, string(d.Body))
		if d.Redelivered {
			redelivered++
		}
		if err := d.Ack(false); err != nil {
			return "", err
		}
	}
	for len(got) < confirmCount {
		d, err := wait(deliveries, fmt.Sprintf("delivery %d", len(got)+1))
		if err != nil {
			return "", err
		}
		got = append(got, string(d.Body))
		if d.Redelivered {
			redelivered++
		}
		if err := d.Ack(false); err != nil {
			return "", err
		}
	}
	if err := ch.Cancel("checklist", false); err != nil {
		return "", err
	}
	for i, b := range got {
		if b != fmt.Sprint(i) {
			return "", fail("order %v", got)
		}
	}
	if redelivered != 0 {
		return "", fail("%d redelivered", redelivered)
	}
	q, err = ch.QueueDeclarePassive(n.work, false, false, false, false, n.workArgs())
	if err != nil {
		return "", err
	}
	if q.Messages != 0 {
		return "", fail("%d left", q.Messages)
	}
	return "", ch.Close()
}

func (r *run) nackRequeue() (string, error) {
	ch, err := r.conn.Channel()
	if err != nil {
		return "", err
	}
	if err := ch.Qos(1, 0, false); err != nil {
		return "", err
	}
	deliveries, err := ch.Consume(r.n.work, "nack", false, false, false, false, nil)
	if err != nil {
		return "", err
	}
	if err := ch.Publish("", r.n.work, false, false, amqp.Publishing{Body: []byte("nack-me")}); err != nil {
		return "", err
	}
	first, err := wait(deliveries, "the delivery")
	if err != nil {
		return "", err
	}
	if err := first.Nack(false, true); err != nil {
		return "", err
	}
	second, err := wait(deliveries, "the redelivery")
	if err != nil {
		return "", err
	}
	if err := second.Ack(false); err != nil {
		return "", err
	}
	if first.Redelivered || !second.Redelivered || string(second.Body) != "nack-me" {
		return "", fail("redelivered flags %v, %v", first.Redelivered, second.Redelivered)
	}
	if err := ch.Cancel("nack", false); err != nil {
		return "", err
	}
	return "", ch.Close()
}

func str(v interface{}) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	s, _ := v.(string)
	return s
}

func expectXDeath(h amqp.Table, queue string) error {
	deaths, ok := h["x-death"].([]interface{})
	if !ok || len(deaths) != 1 {
		return fail("x-death is %#v", h["x-death"])
	}
	d, ok := deaths[0].(amqp.Table)
	if !ok {
		return fail("x-death[0] is %#v", deaths[0])
	}
	keys, _ := d["routing-keys"].([]interface{})
	if d["count"] != int64(1) || str(d["reason"]) != "rejected" || str(d["queue"]) != queue || str(d["exchange"]) != "" ||
		len(keys) != 1 || str(keys[0]) != queue {
		return fail("x-death[0] is %#v", d)
	}
	if _, ok := d["time"].(time.Time); !ok {
		return fail("x-death[0].time is %#v", d["time"])
	}
	if str(h["x-first-death-reason"]) != "rejected" || str(h["x-first-death-queue"]) != queue {
		return fail("x-first-death-* are %#v, %#v", h["x-first-death-reason"], h["x-first-death-queue"])
	}
	return nil
}

func (r *run) rejectDlx() (string, error) {
	n := r.n
	ch, err := r.conn.Channel()
	if err != nil {
		return "", err
	}
	if err := ch.Publish("", n.work, false, false, amqp.Publishing{Body: []byte("reject-me")}); err != nil {
		return "", err
	}
	var m amqp.Delivery
	for i := 0; ; i++ {
		d, ok, err := ch.Get(n.work, false)
		if err != nil {
			return "", err
		}
		if ok {
			m = d
			break
		}
		if i > 500 {
			return "", fail("the message to reject never came")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := m.Reject(false); err != nil {
		return "", err
	}
	dead, err := getAll(ch, n.dlq, 1)
	if err != nil {
		return "", err
	}
	if string(dead[0].Body) != "reject-me" || dead[0].Exchange != n.dlx || dead[0].RoutingKey != "dead" {
		return "", fail("dead letter %q came via %s/%s", dead[0].Body, dead[0].Exchange, dead[0].RoutingKey)
	}
	if err := expectXDeath(dead[0].Headers, n.work); err != nil {
		return "", err
	}
	return "", ch.Close()
}

func (r *run) mandatoryReturn() (string, error) {
	ch, err := r.conn.Channel()
	if err != nil {
		return "", err
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	if err := ch.Confirm(false); err != nil {
		return "", err
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	if err := ch.Publish("", r.n.nowhere, true, false, amqp.Publishing{Body: []byte("to nowhere")}); err != nil {
		return "", err
	}
	ret, err := wait(returns, "basic.return")
	if err != nil {
		return "", err
	}
	if _, err := wait(confirms, "the confirm after the return"); err != nil {
		return "", err
	}
	if ret.ReplyCode != 312 || ret.ReplyText != "NO_ROUTE" || ret.RoutingKey != r.n.nowhere || string(ret.Body) != "to nowhere" {
		return "", fail("returned %d %s %s %q", ret.ReplyCode, ret.ReplyText, ret.RoutingKey, ret.Body)
	}
	return "", ch.Close()
}

func (r *run) rpc() (string, error) {
	serverConn, err := r.dial(r.url, 0)
	if err != nil {
		return "", err
	}
	defer serverConn.Close()
	server, err := serverConn.Channel()
	if err != nil {
		return "", err
	}
	requests, err := server.Consume(r.n.rpc, "server", false, false, false, false, nil)
	if err != nil {
		return "", err
	}
	replyTos := make(chan string, 3)
	go func() {
		for d := range requests {
			replyTos <- d.ReplyTo
			_ = server.Publish("", d.ReplyTo, false, false, amqp.Publishing{CorrelationId: d.CorrelationId, Body: append([]byte("pong "), d.Body...)})
			_ = d.Ack(false)
		}
	}()
	client, err := r.conn.Channel()
	if err != nil {
		return "", err
	}
	answers, err := client.Consume("amq.rabbitmq.reply-to", "client", true, false, false, false, nil)
	if err != nil {
		return "", err
	}
	for i := 0; i < 3; i++ {
		msg := amqp.Publishing{ReplyTo: "amq.rabbitmq.reply-to", CorrelationId: fmt.Sprintf("c%d", i), Body: []byte(fmt.Sprintf("ping %d", i))}
		if err := client.Publish("", r.n.rpc, false, false, msg); err != nil {
			return "", err
		}
	}
	got := map[string]string{}
	for len(got) < 3 {
		a, err := wait(answers, fmt.Sprintf("answer %d", len(got)+1))
		if err != nil {
			return "", err
		}
		got[a.CorrelationId] = string(a.Body)
	}
	for i := 0; i < 3; i++ {
		if got[fmt.Sprintf("c%d", i)] != fmt.Sprintf("pong ping %d", i) {
			return "", fail("answers %v", got)
		}
	}
	for i := 0; i < 3; i++ {
		if rt := <-replyTos; !strings.HasPrefix(rt, "amq.rabbitmq.reply-to.") {
			return "", fail("server saw reply_to %q", rt)
		}
	}
	if err := client.Close(); err != nil {
		return "", err
	}
	return "direct reply-to", serverConn.Close()
}

func (r *run) largeMessage() (string, error) {
	ch, err := r.conn.Channel()
	if err != nil {
		return "", err
	}
	if err := ch.Confirm(false); err != nil {
		return "", err
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	body := make([]byte, mib)
	_, _ = rand.Read(body)
	if err := ch.Publish("", r.n.work, false, false, amqp.Publishing{Body: body}); err != nil {
		return "", err
	}
	if c, err := wait(confirms, "the confirm"); err != nil || !c.Ack {
		return "", fail("confirm %+v %v", c, err)
	}
	got, err := getAll(ch, r.n.work, 1)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(got[0].Body, body) {
		return "", fail("got %d bytes, not the %d sent", len(got[0].Body), len(body))
	}
	return "", ch.Close()
}

func (r *run) close() (string, error) {
	ch, err := r.conn.Channel()
	if err != nil {
		return "", err
	}
	for _, q := range r.n.queues() {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			return "", err
		}
	}
	for _, x := range r.n.exchanges() {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			return "", err
		}
	}
	if err := ch.Close(); err != nil {
		return "", err
	}
	if err := r.conn.Close(); err != nil {
		return "", err
	}
	if e, ok := <-r.closed; ok && e != nil {
		return "", fail("connection closed with %v", e)
	}
	// A graceful Close must leave NotifyClose quiet. The client closes the socket once it has
	// close-ok (spec: connection.close-ok "tells the recipient that it is … safe to close the
	// socket"), as RabbitMQ expects; a server that ends the socket itself right after close-ok
	// races amqp091-go's reader, which then reports 501 EOF. Twenty closes turn that race into
	// a steady failure instead of a flaky one.
	const closes = 20
	var noisy []string
	for i := 0; i < closes; i++ {
		c, err := r.dial(r.url, 0)
		if err != nil {
			return "", err
		}
		notified := c.NotifyClose(make(chan *amqp.Error, 1))
		if _, err := c.Channel(); err != nil {
			return "", err
		}
		if err := c.Close(); err != nil {
			return "", fail("close %d: %v", i+1, err)
		}
		if e, ok := <-notified; ok && e != nil {
			noisy = append(noisy, e.Error())
		}
	}
	if len(noisy) > 0 {
		return "", fail("%d of %d graceful closes reported an error on NotifyClose (the server ended the socket after close-ok?): %s",
			len(noisy), closes, noisy[0])
	}
	return fmt.Sprintf("and %d more connections, NotifyClose quiet", closes), nil
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: checklist <amqp-url> [<amqp-url-of-vhost-test>]")
		os.Exit(2)
	}
	r := &run{url: os.Args[1], n: newNames()}
	if len(os.Args) == 3 {
		r.vhostURL = os.Args[2]
	}
	time.AfterFunc(watchdog, func() {
		fmt.Printf("FAIL watchdog: still running after %v\n", watchdog)
		os.Exit(3)
	})
	checks := []struct {
		name string
		fn   func() (string, error)
	}{
		{"connect", r.connect}, {"connect-vhost", r.connectVhost}, {"heartbeat", r.heartbeat}, {"declare", r.declare},
		{"bind-topic", r.bindTopic}, {"publish-confirm", r.publishConfirm}, {"consume-ack-prefetch", r.consumeAckPrefetch},
		{"nack-requeue", r.nackRequeue}, {"reject-dlx", r.rejectDlx}, {"mandatory-return", r.mandatoryReturn},
		{"rpc", r.rpc}, {"large-message", r.largeMessage}, {"close", r.close},
	}
	ok, skipped, failed := 0, 0, 0
	abort := ""
	for _, c := range checks {
		if abort != "" {
			fmt.Printf("FAIL %s: not run: %s\n", c.name, abort)
			failed++
			continue
		}
		started := time.Now()
		type result struct {
			note string
			err  error
		}
		done := make(chan result, 1)
		go func(fn func() (string, error)) {
			note, err := fn()
			done <- result{note, err}
		}(c.fn)
		var res result
		select {
		case res = <-done:
		case <-time.After(checkTimeout):
			res = result{err: fail("timed out after %v", checkTimeout)}
		}
		var sk skip
		switch {
		case res.err == nil:
			note := fmt.Sprintf("%d ms", time.Since(started).Milliseconds())
			if res.note != "" {
				note += ", " + res.note
			}
			fmt.Printf("ok %s (%s)\n", c.name, note)
			ok++
		case errors.As(res.err, &sk):
			fmt.Printf("skip %s: %s\n", c.name, sk)
			skipped++
		default:
			fmt.Printf("FAIL %s: %s\n", c.name, strings.ReplaceAll(res.err.Error(), "\n", " "))
			failed++
			if c.name == "connect" {
				abort = "connect failed"
			}
		}
	}
	fmt.Printf("summary: %d ok, %d skip, %d FAIL\n", ok, skipped, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
