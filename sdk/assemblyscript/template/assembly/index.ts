import { JSON, Message, Outcome, err, log, messaging, objects, ok, register } from "switchyard-plugin";

// The glue the server calls; keep this line.
export * from "switchyard-plugin/exports";

// Stores every message as a `Note` and answers on `<topic>/ack`.
register((message: Message): Outcome => {
  const note = JSON.objectValue()
    .setString("topic", message.topic)
    .setString("text", message.payloadText());
  const created = objects.create("Note", note.stringify());
  if (created.isErr) return err("storing the note failed: " + created.error!.toString());

  const failure = messaging.publishText(message.clientId, message.topic + "/ack", created.unwrap());
  if (failure !== null) return err("publishing the ack failed: " + failure.toString());

  log.info("stored note " + created.unwrap());
  return ok();
});
