// Order intake, written in AssemblyScript: for `{"orderId":"o1","item":"widget","quantity":3,
// "price":2.5}` it stores `Order {orderId, item, quantity, price, total, topic}` and publishes
// `{"orderId":"o1","status":"accepted","total":7.5}` to `orders/<orderId>/confirmed` (or, when
// the subscriber has a `confirmTopic` property, to that topic: Kafka topics have no levels)
// through the client the order came in on. A payload that is not such an order fails the invocation with a
// reason naming the field, and nothing is stored or published.

import { JSON, JSONValue, Message, Outcome, Result, err, log, messaging, objects, ok, register } from "switchyard-plugin";

export * from "switchyard-plugin/exports";

function acceptOrder(message: Message): Outcome {
  const parsed = JSON.parse(message.payloadText());
  if (parsed.isErr) return err("the order is not JSON: " + parsed.error!.message);
  const order = parsed.unwrap();
  if (!order.isObject) return err("the order must be a JSON object");

  const orderId = requireString(order, "orderId");
  if (orderId === null) return err(fieldProblem(order, "orderId", "a non-empty string"));
  // The id becomes a topic level of the confirmation.
  if (orderId.includes("/") || orderId.includes("+") || orderId.includes("#")) {
    return err("field `orderId` must not contain '/', '+' or '#', got " + JSON.quote(orderId));
  }
  const item = requireString(order, "item");
  if (item === null) return err(fieldProblem(order, "item", "a non-empty string"));
  const quantity = order.getNumber("quantity");
  if (!(quantity >= 1) || quantity != Math.floor(quantity)) {
    return err(fieldProblem(order, "quantity", "a positive whole number"));
  }
  const price = order.getNumber("price");
  if (!(price >= 0) || !isFinite(price)) return err(fieldProblem(order, "price", "a number of at least 0"));
  // Money: round to cents so 3 x 0.1 is 0.3, not 0.30000000000000004.
  const total = Math.round(quantity * price * 100) / 100;

  const stored = JSON.objectValue()
    .setString("orderId", orderId)
    .setString("item", item)
    .setNumber("quantity", quantity)
    .setNumber("price", price)
    .setNumber("total", total)
    .setString("topic", message.topic);
  const created = objects.create("Order", stored.stringify());
  if (created.isErr) return err("storing the order failed: " + created.error!.toString());

  const confirmation = JSON.objectValue()
    .setString("orderId", orderId)
    .setString("status", "accepted")
    .setNumber("total", total);
  const configured = confirmTopic(message);
  if (configured.isErr) return err("reading the subscriber failed: " + configured.error!.toString());
  const setting = configured.unwrap();
  const topic = setting !== null ? setting : "orders/" + orderId + "/confirmed";
  const failure = messaging.publishText(message.clientId, topic, confirmation.stringify());
  if (failure !== null) return err("publishing the confirmation failed: " + failure.toString());

  log.info("order " + orderId + " accepted: " + (<i64>quantity).toString() + " x " + item + ", total " + JSON.numberValue(total).stringify());
  return ok();
}

// The subscriber's `confirmTopic` setting, if it has one.
function confirmTopic(message: Message): Result<string | null> {
  const read = objects.get(message.subscriberId);
  if (read.isErr) return Result.err<string | null>(read.error!);
  const text = read.unwrap();
  if (text === null) return Result.ok<string | null>(null);
  const subscriber = JSON.parse(text);
  if (subscriber.isErr) return Result.ok<string | null>(null);
  return Result.ok<string | null>(requireString(subscriber.unwrap(), "confirmTopic"));
}

// The member `name` if it is a non-empty string.
function requireString(order: JSONValue, name: string): string | null {
  const value = order.getString(name);
  return value !== null && value.length > 0 ? value : null;
}

// "missing field `x`" or "field `x` must be ..., got ...".
function fieldProblem(order: JSONValue, name: string, expected: string): string {
  const value = order.get(name);
  if (value === null) return "missing field `" + name + "` (" + expected + ")";
  return "field `" + name + "` must be " + expected + ", got " + value.stringify();
}

// Last, so every module-level value the handler uses is initialized first.
register(acceptOrder);
