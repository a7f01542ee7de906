"""The admin UI, driven in Debian's chromium by Playwright the way a user meets it.

Run by `tests/admin_ui.rs`, which starts a real server and passes, in the environment:
SWITCHYARD_URL, SWITCHYARD_TOKEN, PLUGIN_WASM (the chaos plugin built from plugins/),
NOT_A_PLUGIN (a .wasm that is not a component of our world) and SCREENSHOTS (a folder).
Every step asserts what the user would look at; a failed expectation ends the run non-zero.
"""

import os
import re

from playwright.sync_api import Page, expect, sync_playwright

URL = os.environ["SWITCHYARD_URL"]
TOKEN = os.environ["SWITCHYARD_TOKEN"]
SECRET = "hunter2-never-shown"
SHOTS = os.environ["SCREENSHOTS"]
# Connection status and stored objects arrive asynchronously; the UI shows them within this.
SOON = 15_000


def sign_in(page: Page) -> None:
    page.goto(URL + "/")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.get_by_label("API token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("neither this server's API token nor a tenant's")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Clients")).to_be_visible()
    expect(page.get_by_text("No clients yet.")).to_be_visible()


def upload_plugins(page: Page) -> None:
    go(page, "Plugins")
    form = page.locator("form[action='/ui/plugins']")
    form.get_by_label("Name").fill("broken")
    form.get_by_label("Component (.wasm)").set_input_files(os.environ["NOT_A_PLUGIN"])
    form.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_contain_text("switchyard:plugin")
    form.get_by_label("Name").fill("chaos")
    form.get_by_label("Component (.wasm)").set_input_files(os.environ["PLUGIN_WASM"])
    form.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("Installed plugin `chaos`")
    row = page.locator("tr[data-plugin='chaos']")
    expect(row).to_contain_text("component")
    expect(row.locator("code")).to_have_text(re.compile(r"^[0-9a-f]{12}…$"))


def add_client(page: Page) -> None:
    go(page, "Clients")
    page.get_by_label("Type").select_option("MQTTClient")
    page.get_by_label("Properties (JSON)").fill(
        '{"name": "ui-client", "mainBrokerURL": "embedded", "isEnabled": false,'
        f' "username": "ui", "password": "{SECRET}"}}'
    )
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_contain_text("Added MQTTClient `ui-client`")
    row = page.locator("tr[data-client='ui-client']")
    expect(row.locator("td.status")).to_have_text("not connected")
    # Enabling connects it; the table refreshes itself, so the status changes in place.
    row.get_by_role("button", name="Enable").click()
    expect(page.locator("tr[data-client='ui-client'] td.status")).to_have_text("connected", timeout=SOON)


def add_and_delete_a_client(page: Page) -> None:
    page.get_by_label("Type").select_option("PulsarClient")
    page.get_by_label("Properties (JSON)").fill('{"name": "spare", "servers": ["pulsar://127.0.0.1:1"]}')
    page.get_by_role("button", name="Add").click()
    row = page.locator("tr[data-client='spare']")
    expect(row).to_contain_text("PulsarClient")
    row.get_by_role("button", name="Delete").click()  # the confirmation is accepted
    expect(page.get_by_role("status")).to_contain_text("Deleted")
    expect(page.locator("tr[data-client='spare']")).to_have_count(0)


def add_subscriber(page: Page) -> None:
    go(page, "Subscribers")
    form = page.locator("form.subscriber")
    form.get_by_label("Name").fill("ui-readings")
    form.get_by_label("Topic filter").fill("ui/#")
    form.get_by_label("Callback (plugin)").select_option("chaos")
    form.get_by_label("ui-client (MQTTClient)").check()
    form.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_contain_text("Added subscriber")
    row = page.locator("tbody tr", has_text="ui-readings")
    expect(row).to_contain_text("ui/#")
    expect(row).to_contain_text("ui-client")


def publish(page: Page, topic: str, message: str) -> None:
    go(page, "Publish")
    form = page.locator("form.publish")
    form.locator("select[name=client]").select_option(label="ui-client (MQTTClient)")
    form.locator("input[name=topic]").fill(topic)
    form.locator("textarea[name=message]").fill(message)
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status")).to_contain_text(f"Published to `{topic}`")


def records_on(page: Page, topic: str) -> int:
    """How many ChaosRecords the object browser lists for `topic`, filtered in its form."""
    page.goto(URL + "/ui/objects")
    page.get_by_label("Type").first.fill("ChaosRecord")
    page.get_by_label("Filter").fill(f"topic={topic}")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("p.count")).to_contain_text("ChaosRecord")
    return page.locator("table.objects tbody tr").count()


def wait_live(page: Page) -> None:
    """The broker takes the new subscription a moment after it is saved: probe until a
    message published through the client comes back through the callback."""

    def live() -> bool:
        publish(page, "ui/probe", "ok 0")
        return records_on(page, "ui/probe") > 0

    wait_until(page, live)


def see_new_object(page: Page) -> None:
    # Stored by the callback a moment after the publish: look again until it shows.
    wait_until(page, lambda: records_on(page, "ui/readings") > 0)
    expect(page.locator("p.count")).to_have_text("1–1 of 1 ChaosRecord")
    row = page.locator("table.objects tbody tr").first
    expect(row).to_contain_text("ui/readings")
    expect(row).to_contain_text("21")
    # The JSON editor: change a property and save.
    row.get_by_role("link").first.click()
    editor = page.get_by_label(re.compile("^ChaosRecord"))
    text = editor.input_value()
    assert '"n": 21' in text, text
    editor.fill(text.replace('"n": 21', '"n": 22'))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    assert '"n": 22' in page.get_by_label(re.compile("^ChaosRecord")).input_value()


def see_failed_message(page: Page) -> None:
    def shown() -> bool:
        page.goto(URL + "/ui/failed")
        return page.locator("table.failed tbody tr").count() > 0

    wait_until(page, shown)
    row = page.locator("table.failed tbody tr").first
    expect(row).to_contain_text("asked to fail")
    expect(row).to_contain_text("chaos")
    # Subscriber and client by their names, not their ids.
    expect(row.locator("td").nth(1)).to_have_text("ui-readings")
    expect(row.locator("td").nth(2)).to_have_text("ui-client")
    attempts = int(row.locator("td").nth(6).inner_text())
    row.get_by_role("button", name="Replay").click()
    # The callback fails again: the record stays, with one more attempt.
    expect(page.get_by_role("alert")).to_contain_text("asked to fail")
    row = page.locator("table.failed tbody tr").first
    expect(row.locator("td").nth(6)).to_have_text(str(attempts + 1))


def see_live_logs(page: Page) -> None:
    go(page, "Logs")
    page.get_by_label("Plugin").select_option("chaos")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("log")).to_be_attached()
    # The host's line on the failed callback is there with what the plugin logged.
    expect(page.get_by_role("log")).to_contain_text("attempt 1 failed", timeout=SOON)
    # A line logged after the page opened arrives over the stream.
    publish_in_background(page, "ui/logs", "log")
    expect(page.get_by_role("log")).to_contain_text("stderr", timeout=SOON)
    expect(page.get_by_role("log")).to_contain_text("chaos")


def publish_in_background(page: Page, topic: str, message: str) -> None:
    """Publishes through the REST API from the page's own origin, leaving the page open."""
    status = page.evaluate(
        """async ([token, topic, message]) => {
            const clients = await fetch('/api/objects/MQTTClient?name=ui-client',
                {headers: {authorization: 'Bearer ' + token}}).then(r => r.json());
            const id = clients.result[0].id;
            const response = await fetch(`/api/clients/${id}/publish`, {method: 'POST',
                headers: {authorization: 'Bearer ' + token, 'content-type': 'application/json'},
                body: JSON.stringify({topic, message})});
            return response.status;
        }""",
        [TOKEN, topic, message],
    )
    assert status == 200, status


def no_secret_anywhere(page: Page) -> None:
    for path in ["/ui/clients", "/ui/subscribers", "/ui/publish", "/ui/objects?type=MQTTClient"]:
        page.goto(URL + path)
        assert SECRET not in page.content(), f"{path} shows the client's password"
    page.goto(URL + "/ui/objects?type=MQTTClient")
    page.locator("table.objects tbody tr").first.get_by_role("link").first.click()
    editor = page.get_by_label(re.compile("^MQTTClient"))
    assert SECRET not in editor.input_value(), "the object editor shows the client's password"
    assert '"username": "ui"' in editor.input_value()


def see_instances(page: Page) -> None:
    """One instance on the embedded store: this one, with where it listens (the operator's)."""
    go(page, "Instances")
    expect(page.get_by_text("1 live, sharing one store.")).to_be_visible()
    row = page.locator("table.instances tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("(this one)")
    expect(row).to_contain_text(URL)


def go(page: Page, section: str) -> None:
    """Follows a navigation link and waits for its page (htmx swaps it in)."""
    page.get_by_role("link", name=section, exact=True).click()
    expect(page.get_by_role("heading", name=section, exact=True)).to_be_visible()


def tenants(page: Page) -> None:
    """The operator adds a tenant with quotas and a viewer's token, looks at the tenant, and
    the tenant's viewer signs in to see only its own, and change nothing."""
    go(page, "Tenants")
    page.get_by_label("Name").fill("acme")
    page.get_by_role("button", name="Add tenant").click()
    expect(page.get_by_role("status")).to_contain_text("Added tenant `acme`")
    acme = page.get_by_role("region", name="acme")
    acme.get_by_label("Quotas").fill("plugins=2 objects=50")
    acme.get_by_role("button", name="Set quotas").click()
    expect(page.get_by_role("status")).to_contain_text("Set the quotas of `acme`")
    acme = page.get_by_role("region", name="acme")
    expect(acme.get_by_role("row", name=re.compile("^objects"))).to_contain_text("50")
    acme.get_by_label("Role").select_option("viewer")
    acme.get_by_role("button", name="Issue token").click()
    issued = page.get_by_role("status")
    expect(issued).to_contain_text("New token of `acme`")
    token = re.search(r"[0-9a-f]{48}", issued.inner_text()).group(0)

    page.get_by_role("navigation").get_by_label("Tenant").select_option("acme")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("heading", name="Clients")).to_be_visible()
    expect(page.get_by_text("No clients yet.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Tenant acme")).to_be_visible()
    expect(page.get_by_text("No clients yet.")).to_be_visible()
    expect(page.get_by_role("link", name="Tenants")).to_have_count(0)
    page.get_by_label("Type").select_option("MQTTClient")
    page.get_by_label("Properties (JSON)").fill('{"mainBrokerURL": "embedded"}')
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("alert")).to_contain_text("a viewer's")
    go(page, "Clients")
    expect(page.get_by_text("No clients yet.")).to_be_visible()


def wait_until(page: Page, check) -> None:
    for _ in range(SOON // 250):
        if check():
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"not shown within {SOON} ms: {page.url}")


def main() -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.on("dialog", lambda dialog: dialog.accept())
        # Script errors, markup the browser rejects and anything the content security policy
        # blocked fail the run. (Error statuses are logged too; the walk-through causes some.)
        problems = []
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: message.type == "error"
            and not message.text.startswith("Failed to load resource")
            and problems.append(f"console: {message.text}"),
        )
        page.set_default_timeout(10_000)
        sign_in(page)
        upload_plugins(page)
        add_client(page)
        add_and_delete_a_client(page)
        add_subscriber(page)
        wait_live(page)
        publish(page, "ui/readings", "ok 21")
        publish(page, "ui/readings", "fail")
        see_new_object(page)
        see_failed_message(page)
        see_live_logs(page)
        see_instances(page)
        no_secret_anywhere(page)
        page.goto(URL + "/ui/clients")
        expect(page.locator("tr[data-client='ui-client'] td.status")).to_have_text("connected")
        page.screenshot(path=os.path.join(SHOTS, "admin-ui.png"))
        tenants(page)
        browser.close()
    assert not problems, "\n".join(problems)
    print("admin UI walk-through passed")


if __name__ == "__main__":
    main()
