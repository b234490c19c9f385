import Foundation
import TestSupport
import Testing

/// The admin's pages in a real browser: headless Chromium driven by Selenium, through the
/// pages' own forms, buttons and scripts. One browser for the whole walk; a screenshot of
/// every page lands in `.build/test-output/admin-browser/`.
@Suite("Web admin: the pages in a browser")
struct AdminBrowserTests {
    static var screenshots: String {
        if let directory = ProcessInfo.processInfo.environment["PILLARBOX_TEST_OUTPUT"] { return directory + "/admin-browser" }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/test-output/admin-browser").path
    }

    static let walk = #"""
import os, smtplib, time, sys
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import StaleElementReferenceException
base = 'http://127.0.0.1:%d' % PORTS['admin']
shots = sys.argv[1]
os.makedirs(shots, exist_ok=True)
options = webdriver.ChromeOptions()
options.binary_location = '/usr/bin/chromium'
for argument in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--window-size=1400,1200'):
    options.add_argument(argument)
options.set_capability('goog:loggingPrefs', {'browser': 'SEVERE'})
driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=options)
out = {}
def wait(condition, seconds=30):
    def safe(d):
        try: return condition(d)
        except StaleElementReferenceException: return False
    try:
        return WebDriverWait(driver, seconds).until(safe)
    except Exception:
        shot('timed-out')
        notices = [element.text for element in driver.find_elements(By.CSS_SELECTOR, '#notice, #job-state, #job-result')]
        raise Exception('waited %ds in vain on %s; the page says %r; the browser: %r'
                        % (seconds, driver.current_url, notices, driver.get_log('browser')))
def shot(name):
    driver.save_screenshot(os.path.join(shots, name + '.png'))
def text(selector):
    return driver.find_element(By.CSS_SELECTOR, selector).text
def fill(form, values):
    for name, value in values.items():
        field = driver.find_element(By.CSS_SELECTOR, '%s [name="%s"]' % (form, name))
        field.clear()
        field.send_keys(value)
def reloaded(action):
    old = driver.find_element(By.TAG_NAME, 'html')
    action()
    try:
        wait(lambda d: old.id != d.find_element(By.TAG_NAME, 'html').id)
    except Exception:
        raise Exception('no reload after an action on %s; the page says %r; the browser: %r'
                        % (driver.current_url, text('#notice'), driver.get_log('browser')))
def accept_alerts():
    driver.execute_script('window.confirm = () => true;')
try:
    # A wrong password: the generic error, nothing said about which part was wrong.
    driver.get(base + '/login')
    shot('login')
    fill('form.login', {'user': 'postmaster', 'password': 'wrong'})
    driver.find_element(By.CSS_SELECTOR, 'form.login button').click()
    wait(lambda d: 'failed' in d.current_url)
    out['failed'] = text('#failed')
    shot('login-failed')
    fill('form.login', {'user': 'postmaster', 'password': 'postmaster-pass'})
    driver.find_element(By.CSS_SELECTOR, 'form.login button').click()
    wait(lambda d: d.current_url.rstrip('/') == base)

    # The status page's activity feed is live: mail sent now shows without a reload.
    wait(lambda d: text('#live') == '(live)')
    first = int(driver.find_element(By.CSS_SELECTOR, '#events tr:nth-child(2) td').text)
    smtp = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
    smtp.sendmail('alice@example.com', ['someone@remote.example'], 'Subject: <b>queued</b>\r\n\r\nbody\r\n')
    wait(lambda d: int(d.find_element(By.CSS_SELECTOR, '#events tr:nth-child(2) td').text) > first)
    out['live'] = [row.text for row in driver.find_elements(By.CSS_SELECTOR, '#events tr')[1:6]]
    out['charts'] = len(driver.find_elements(By.CSS_SELECTOR, 'svg.chart'))
    shot('status')

    # Add a user through the form.
    driver.get(base + '/users')
    fill('#add-user', {'name': 'frank', 'password': 'frank-secret-1', 'comments': '<i>new</i>'})
    reloaded(lambda: driver.find_element(By.CSS_SELECTOR, '#add-user button').click())
    out['frank'] = text('tr[data-user="frank"]')
    shot('users')

    # Change several of the user's fields on their own page.
    driver.find_element(By.CSS_SELECTOR, 'tr[data-user="frank"] a').click()
    wait(lambda d: d.find_elements(By.CSS_SELECTOR, '#edit-user'))
    fill('#edit-user', {'protocols': 'smtp imap', 'send_priority': '5', 'assistants': 'bob', 'reply_to': 'frank@example.com'})
    driver.find_element(By.CSS_SELECTOR, '#edit-user [name="may_send_internet_mail"]').click()
    reloaded(lambda: driver.find_element(By.CSS_SELECTOR, '#edit-user button').click())
    out['frank_fields'] = {name: driver.find_element(By.CSS_SELECTOR, '#edit-user [name="%s"]' % name).get_attribute('value')
                           for name in ('protocols', 'send_priority', 'assistants', 'reply_to')}
    out['frank_internet'] = driver.find_element(By.CSS_SELECTOR, '#edit-user [name="may_send_internet_mail"]').is_selected()
    out['user_nav'] = len(driver.find_elements(By.CSS_SELECTOR, 'header nav a'))
    shot('user')

    # A setting changed on the page reaches the SMTP session that is open.
    smtp.ehlo()
    out['size_before'] = smtp.esmtp_features['size']
    driver.get(base + '/settings?q=max_message_size')
    row = '#setting-smtp\\.max_message_size'
    fill(row + ' form', {'value': '2048000'})
    reloaded(lambda: driver.find_element(By.CSS_SELECTOR, row + ' button').click())
    out['changed_by'] = text(row)
    after = out['size_before']
    deadline = time.time() + 30
    while after == out['size_before'] and time.time() < deadline:
        smtp.ehlo()
        after = smtp.esmtp_features['size']
    out['size_after'] = after
    fill(row + ' form', {'value': 'not a number'})
    driver.find_element(By.CSS_SELECTOR, row + ' button').click()
    wait(lambda d: 'error' in d.find_element(By.ID, 'notice').get_attribute('class'))
    out['bad_value'] = text('#notice')
    shot('settings')

    # The SMTP session is on the Sessions page; ending it there drops the client.
    driver.get(base + '/sessions')
    out['sessions'] = text('#sessions')
    shot('sessions')
    accept_alerts()
    reloaded(lambda: driver.find_element(By.CSS_SELECTOR, '#sessions button').click())
    try:
        smtp.noop()
        out['dropped'] = False
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        out['dropped'] = True
    wait(lambda d: 'No sessions are open' in text('#sessions') or d.refresh())
    out['sessions_after'] = text('#sessions')

    # Hold and release the queued message from the grid.
    driver.get(base + '/queue')
    wait(lambda d: d.find_elements(By.CSS_SELECTOR, 'input.pick'))
    driver.find_element(By.CSS_SELECTOR, 'input.pick').click()
    reloaded(lambda: driver.find_element(By.CSS_SELECTOR, 'button.bulk[data-action="hold"]').click())
    wait(lambda d: 'held' in [cell.text for cell in d.find_elements(By.CSS_SELECTOR, 'td.state')] or d.refresh())
    out['held'] = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, 'td.state')]
    out['subject'] = text('td.subject')
    shot('queue-held')
    driver.find_element(By.CSS_SELECTOR, 'input.pick').click()
    reloaded(lambda: driver.find_element(By.CSS_SELECTOR, 'button.bulk[data-action="release"]').click())
    wait(lambda d: 'held' not in [cell.text for cell in d.find_elements(By.CSS_SELECTOR, 'td.state')] or d.refresh())
    out['released'] = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, 'td.state')]
    driver.get(base + '/queue?size=%3E100000')
    out['filtered'] = len(driver.find_elements(By.CSS_SELECTOR, 'input.pick'))
    shot('queue')

    # Block an address, then lift the block.
    driver.get(base + '/security')
    fill('#add-block', {'address': '192.0.2.44', 'minutes': '30', 'reason': 'testing'})
    reloaded(lambda: driver.find_element(By.CSS_SELECTOR, '#add-block button').click())
    out['blocked'] = text('#blocks')
    shot('security')
    reloaded(lambda: driver.find_element(By.CSS_SELECTOR, '#blocks button').click())
    out['lifted'] = text('#blocks')

    # Verify the log's ledger and a projection, watching the progress bar.
    driver.get(base + '/log')
    shot('log')
    driver.find_element(By.ID, 'verify-log').click()
    wait(lambda d: text('#job-result') != '', 120)
    out['verify'] = text('#job-result')
    out['progress'] = driver.find_element(By.ID, 'job-progress').get_attribute('value')
    shot('log-verified')
    driver.find_element(By.CSS_SELECTOR, 'button.job[data-kind="verify"][data-projection="outqueue"]').click()
    wait(lambda d: 'outqueue' in text('#job-state') and text('#job-result') != out['verify'], 120)
    out['verify_projection'] = text('#job-result')
    driver.find_element(By.CSS_SELECTOR, 'button.digest[data-projection="outqueue"]').click()
    wait(lambda d: 'outmessages' in text('#digest-outqueue'))
    out['digest'] = text('#digest-outqueue')

    for page in ('directory', 'logs', 'logs?table=messages'):
        driver.get(base + '/' + page)
        shot(page.replace('?table=', '-'))
    out['errors'] = [entry['message'] for entry in driver.get_log('browser') if entry['level'] == 'SEVERE' and entry.get('source') != 'network']
finally:
    driver.quit()
print(json.dumps(out))
"""#

    @Test("log in, add a user, change a setting a running SMTP session sees, hold and release mail, block and lift, verify with progress")
    func walk() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#, "outqueue.paused", "true"])
            try await server.start(admin: true)
            let result = try await server.python(Self.walk, [Self.screenshots], timeout: .seconds(400)).json
            #expect(result["failed"] as? String == "The user name or password is wrong.", "\(result)")
            #expect((result["live"] as? [String])?.contains { $0.contains("message_accepted") } == true, "\(result["live"] ?? "")")
            #expect(result["charts"] as? Int == 2)
            #expect((result["frank"] as? String)?.contains("<i>new</i>") == true, "shown as text: \(result["frank"] ?? "")")
            #expect(result["size_before"] as? String == "52428800" && result["size_after"] as? String == "2048000", "\(result)")
            #expect((result["changed_by"] as? String)?.contains("admin:postmaster from 127.0.0.1") == true, "\(result["changed_by"] ?? "")")
            #expect((result["bad_value"] as? String)?.isEmpty == false, "\(result)")
            let fields = result["frank_fields"] as? [String: String]
            #expect(fields == ["protocols": "smtp imap", "send_priority": "5", "assistants": "bob", "reply_to": "frank@example.com"],
                    "\(result)")
            #expect(result["frank_internet"] as? Bool == false)
            #expect(result["user_nav"] as? Int == 9, "the sections are shown above a user's page")
            #expect((result["sessions"] as? String)?.contains("smtp 1") == true && (result["sessions"] as? String)?.contains("EHLO") == true,
                    "\(result["sessions"] ?? "")")
            #expect(result["dropped"] as? Bool == true, "\(result)")
            #expect((result["sessions_after"] as? String)?.contains("No sessions are open") == true, "\(result["sessions_after"] ?? "")")
            #expect((result["held"] as? [String])?.contains("held") == true, "\(result)")
            #expect((result["released"] as? [String])?.contains("held") == false, "\(result)")
            #expect(result["subject"] as? String == "<b>queued</b>", "\(result)")
            #expect(result["filtered"] as? Int == 0)
            #expect((result["blocked"] as? String)?.contains("192.0.2.44") == true && (result["lifted"] as? String)?.contains("192.0.2.44") == false,
                    "\(result)")
            #expect((result["verify"] as? String)?.hasPrefix("log intact") == true, "\(result["verify"] ?? "")")
            #expect(result["progress"] as? String == "1", "\(result)")
            #expect((result["verify_projection"] as? String)?.contains("match") == true, "\(result)")
            #expect((result["digest"] as? String)?.contains("outmessages: 1 rows") == true, "\(result["digest"] ?? "")")
            #expect((result["errors"] as? [String])?.isEmpty == true, "\(result["errors"] ?? "")")
            let shots = try FileManager.default.contentsOfDirectory(atPath: Self.screenshots)
            #expect(shots.contains("status.png") && shots.contains("queue.png") && shots.contains("log-verified.png")
                    && shots.contains("sessions.png") && shots.contains("user.png"), "\(shots)")
        }
    }
}
