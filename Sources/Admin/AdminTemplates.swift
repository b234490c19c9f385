import Mustache

/// The pages' Mustache templates. `{{value}}` is HTML-escaped; the only raw insertions
/// (`{{{chart}}}`) are SVG drawn by `AdminCharts`, which escapes its own text.
enum AdminTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in templates {
            do {
                try library.register(MustacheTemplate(string: text), named: name)
            } catch {
                preconditionFailure("admin template \(name) does not parse: \(error)")
            }
        }
        return library
    }()

    static let templates: [(String, String)] = [("frame", frame), ("login", login), ("account", account), ("status", status),
                                                ("queue", queue), ("users", users), ("directory", directory), ("settings", settings),
                                                ("logs", logs), ("security", security), ("log", log),
                                                ("sessions", sessions), ("user", user)]

    /// The frame every page shares: the header with the sections, a notice line, and the script
    /// that sends forms and buttons to the JSON API with the session's CSRF token.
    static let frame = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>{{title}} · Pillarbox</title>
        <meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
        {{#csrf}}<meta name="csrf" content="{{csrf}}">{{/csrf}}
        <style>
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2433; background: #f6f7f9; }
        header { background: #243b55; color: #fff; padding: .5em 1.2em; display: flex; gap: 1em; align-items: center; flex-wrap: wrap; }
        header h1 { font-size: 1.1em; margin: 0; }
        header nav { flex: 1; display: flex; gap: .8em; }
        header a { color: #dfe8f3; text-decoration: none; }
        header a.here { color: #fff; font-weight: 600; border-bottom: 2px solid #e08a1e; }
        main { padding: 1.2em; }
        h2 { font-size: 1.15em; margin: 1.2em 0 .5em; }
        table { border-collapse: collapse; width: 100%; background: #fff; margin-bottom: 1em; }
        th, td { text-align: left; padding: .3em .5em; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
        th { background: #eef1f5; font-weight: 600; }
        td.number, th.number { text-align: right; }
        tr.filters input { width: 100%; box-sizing: border-box; font-size: .9em; }
        .cards { display: flex; gap: 1em; flex-wrap: wrap; margin-bottom: 1em; }
        .card { background: #fff; padding: .6em 1em; border-radius: 6px; min-width: 8em; }
        .card b { display: block; font-size: 1.5em; }
        .error, .bad { color: #a4161a; }
        .warn { color: #c26a00; }
        .good { color: #1b7a3a; }
        .notice { padding: .4em .8em; background: #e8f3ea; border-radius: 4px; }
        .notice:empty { display: none; }
        .notice.error { background: #fbe9ea; }
        form.inline { display: flex; gap: .5em; flex-wrap: wrap; align-items: end; background: #fff; padding: .6em; border-radius: 6px; margin-bottom: 1em; }
        form.inline label { display: flex; flex-direction: column; font-size: .85em; }
        form.login { background: #fff; padding: 1.5em; max-width: 20em; border-radius: 6px; }
        form.login input { display: block; width: 100%; margin: .3em 0 1em; padding: .4em; box-sizing: border-box; }
        pre { margin: 0; white-space: pre-wrap; word-break: break-all; font-size: .85em; max-height: 12em; overflow: auto; }
        .chart { background: #fff; border-radius: 6px; max-width: 100%; height: auto; }
        .pager { display: flex; gap: 1em; margin-bottom: 1em; }
        progress { width: 12em; }
        </style></head>
        <body><header><h1>Pillarbox</h1>
        {{#admin}}<nav>
        <a href="/"{{#here_status}} class="here"{{/here_status}}>Status</a>
        <a href="/sessions"{{#here_sessions}} class="here"{{/here_sessions}}>Sessions</a>
        <a href="/queue"{{#here_queue}} class="here"{{/here_queue}}>Queue</a>
        <a href="/users"{{#here_users}} class="here"{{/here_users}}>Users</a>
        <a href="/directory"{{#here_directory}} class="here"{{/here_directory}}>Domains and lists</a>
        <a href="/settings"{{#here_settings}} class="here"{{/here_settings}}>Settings</a>
        <a href="/logs"{{#here_logs}} class="here"{{/here_logs}}>Logs</a>
        <a href="/security"{{#here_security}} class="here"{{/here_security}}>Security</a>
        <a href="/log"{{#here_log}} class="here"{{/here_log}}>The log</a>
        </nav>{{/admin}}
        {{#user}}<span>{{user}}</span> <button id="logout">Log out</button>{{/user}}</header>
        <main><h2>{{title}}</h2><p id="notice" class="notice"></p>{{#problem}}<p class="error" id="problem">{{problem}}</p>{{/problem}}{{$body}}{{/body}}</main>
        <script>
        const csrf = (document.querySelector('meta[name=csrf]') || {}).content;
        async function api(method, path, body, type) {
          const headers = {'X-CSRF-Token': csrf};
          if (body !== undefined) headers['Content-Type'] = type || 'application/json';
          const response = await fetch('/api/v1' + path, {method, headers,
            body: body === undefined ? undefined : (type ? body : JSON.stringify(body))});
          if (!response.ok) {
            let detail = response.status + ' ' + response.statusText;
            try { const problem = await response.json(); detail = problem.detail || problem.title; } catch (e) {}
            throw new Error(detail);
          }
          return response.status === 204 ? null : response.json().catch(() => null);
        }
        function notice(text, bad) {
          const line = document.getElementById('notice');
          line.textContent = text;
          line.className = bad ? 'notice error' : 'notice';
        }
        async function act(method, path, body, after) {
          try {
            const answer = await api(method, path, body);
            if (after) after(answer); else location.reload();
          } catch (error) { notice(error.message, true); }
        }
        function fill(template, element) {
          return template.replace(/\\{(\\w+)\\}/g, (_, name) => encodeURIComponent(element.dataset[name] || ''));
        }
        document.querySelectorAll('form[data-api]').forEach(form => form.addEventListener('submit', event => {
          event.preventDefault();
          const [method, template] = form.dataset.api.split(' ');
          let path = template;
          const body = {};
          for (const input of form.elements) {
            if (!input.name) continue;
            if (path.includes('{' + input.name + '}')) { path = path.replace('{' + input.name + '}', encodeURIComponent(input.value)); continue; }
            let value = input.type === 'checkbox' ? input.checked : input.value;
            if (value === '' && 'optional' in input.dataset) continue;
            if (input.type === 'number') value = Number(value);
            if (input.dataset.kind === 'boolean') { if (value === '') continue; value = value === 'true'; }
            if (input.dataset.kind === 'list') value = value.split(/[\\s,]+/).filter(word => word !== '');
            body[input.name] = value;
          }
          act(method, path, method === 'DELETE' || method === 'PUT' && Object.keys(body).length === 0 ? undefined : body);
        }));
        document.querySelectorAll('button[data-act]').forEach(button => button.addEventListener('click', () => {
          if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
          const [method, template] = button.dataset.act.split(' ');
          act(method, fill(template, button), button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
        }));
        const logout = document.getElementById('logout');
        if (logout) logout.onclick = () => api('DELETE', '/session').finally(() => { location = '/login'; });
        </script>
        {{$script}}{{/script}}
        </body></html>
        """

    static let login = """
        {{<frame}}{{$body}}
        <form class="login" method="post" action="/login">
        {{#failed}}<p class="error" id="failed">The user name or password is wrong.</p>{{/failed}}
        <label>User name <input name="user" autocomplete="username" required maxlength="256"></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>
        <button type="submit">Log in</button>
        </form>
        {{/body}}{{/frame}}
        """

    static let account = """
        {{<frame}}{{$body}}
        <p>You are logged in as {{user}}. The administration pages are for administrators.</p>
        <form class="inline" data-api="PATCH /me">
        <label>New password <input name="password" type="password" data-optional autocomplete="new-password"></label>
        <label>Forward to <input name="forward_to" value="{{forward_to}}" data-optional></label>
        <label>Forwarding <select name="use_forwarding" data-kind="boolean"><option value=""></option>
          <option value="true"{{#use_forwarding}} selected{{/use_forwarding}}>on</option>
          <option value="false"{{^use_forwarding}} selected{{/use_forwarding}}>off</option></select></label>
        <label>Reply address <input name="reply_to" value="{{reply_to}}" data-optional></label>
        <button type="submit">Save</button>
        </form>
        {{/body}}{{/frame}}
        """

    static let status = """
        {{<frame}}{{$body}}
        <div class="cards">
        <div class="card">Queued<b id="queued">{{queued}}</b></div>
        <div class="card">Held<b id="held">{{held}}</b></div>
        <div class="card">Accepted today<b id="accepted">{{accepted}}</b></div>
        <div class="card">Users<b id="users">{{users}}</b></div>
        <div class="card">Domains<b id="domains">{{domains}}</b></div>
        <div class="card">Blocked<b id="blocked">{{blocked}}</b></div>
        </div>
        <h2>Listeners</h2>
        <table id="listeners"><tr><th>Listener</th><th>Address</th><th class="number">Sessions now</th></tr>
        {{#listeners}}<tr><td>{{name}}</td><td>{{address}}:{{port}}</td><td class="number"><a href="/sessions">{{sessions}}</a></td></tr>
        {{/listeners}}{{^listeners}}<tr><td colspan="3">No mail listener is bound in this process.</td></tr>{{/listeners}}</table>
        <h2>Messages in and out per hour, the last 24 hours</h2>
        {{{traffic}}}
        <h2>Queue size per hour</h2>
        {{{queue_chart}}}
        <h2>Connections</h2>
        <table id="connections"><tr><th>Connection</th><th>Method</th><th>Last start</th><th>Result</th><th>Next poll</th><th></th></tr>
        {{#connections}}<tr><td>{{name}}</td><td>{{method}}</td><td>{{last_start}}</td><td class="{{colour}}">{{last_result}}</td>
        <td>{{next_poll}}</td><td><button data-act="POST /connections/{id}/connect" data-id="{{name}}">Connect now</button></td></tr>
        {{/connections}}{{^connections}}<tr><td colspan="6">No connections.</td></tr>{{/connections}}</table>
        <h2>Housekeeping jobs</h2>
        <table id="jobs"><tr><th>Job</th><th>State</th><th>Progress</th><th>Result</th></tr>
        {{#jobs}}<tr><td>{{kind}} {{projection}}</td><td>{{state}}</td><td><progress max="1" value="{{progress}}"></progress></td><td><pre>{{result}}</pre></td></tr>
        {{/jobs}}{{^jobs}}<tr><td colspan="4">None since the server started.</td></tr>{{/jobs}}</table>
        <h2>Activity <small id="live"></small></h2>
        <table id="events"><tr><th>Position</th><th>Recorded</th><th>Stream</th><th>Event</th></tr>
        {{#events}}<tr><td>{{position}}</td><td>{{recorded}}</td><td>{{stream}}</td><td>{{type}}</td></tr>
        {{/events}}</table>
        {{/body}}{{$script}}
        <script>
        const feed = new EventSource('/feed');
        feed.onopen = () => { document.getElementById('live').textContent = '(live)'; };
        feed.onmessage = message => {
          const event = JSON.parse(message.data);
          const row = document.createElement('tr');
          for (const value of [event.position, event.recorded_at, event.stream, event.type]) {
            const cell = document.createElement('td');
            cell.textContent = value;
            row.appendChild(cell);
          }
          const rows = document.getElementById('events').tBodies[0];
          rows.insertBefore(row, rows.rows[1] || null);
          while (rows.rows.length > 41) rows.deleteRow(rows.rows.length - 1);
        };
        </script>
        {{/script}}{{/frame}}
        """

    static let sessions = """
        {{<frame}}{{$body}}
        <p>The connections open now to this server's mail listeners{{#counts}}: {{counts}}{{/counts}}.</p>
        <table id="sessions"><tr><th>Session</th><th>User</th><th>IP address</th><th>Active</th><th>TLS</th><th>Doing</th><th>Log id</th><th></th></tr>
        {{#rows}}<tr data-number="{{number}}"><td>{{listener}} {{number}}</td><td class="user">{{user}}</td><td>{{client_ip}}</td>
        <td title="{{started}}">{{active}}</td><td>{{tls}}</td><td class="detail">{{detail}}</td><td>{{session_id}}</td>
        <td><button data-act="DELETE /sessions/{id}" data-id="{{number}}" data-confirm="End {{listener}} session {{number}}?">End session</button></td></tr>
        {{/rows}}{{^rows}}<tr><td colspan="8">No sessions are open.</td></tr>{{/rows}}</table>
        {{/body}}{{/frame}}
        """

    static let queue = """
        {{<frame}}{{$body}}
        <form method="get" action="/queue" id="filters">
        <table id="queue">
        <tr><th></th><th>State</th><th>IP Addr</th><th>Auth</th><th class="number">Pri</th><th>To</th><th>From</th><th>Subject</th>
        <th>Sent</th><th class="number">Size</th><th class="number">Attempts</th><th>Last reply</th></tr>
        <tr class="filters"><td><button type="submit">Filter</button></td>
        <td><input name="state" value="{{filter.state}}" placeholder="held"></td><td><input name="ip" value="{{filter.ip}}"></td>
        <td><input name="auth" value="{{filter.auth}}"></td><td><input name="priority" value="{{filter.priority}}" placeholder="&gt;0"></td>
        <td><input name="to" value="{{filter.to}}"></td><td><input name="from" value="{{filter.from}}"></td>
        <td><input name="subject" value="{{filter.subject}}"></td><td><input name="since" value="{{filter.since}}" placeholder="2026-12-01"></td>
        <td><input name="size" value="{{filter.size}}" placeholder="1000..50000"></td><td><input name="attempts" value="{{filter.attempts}}" placeholder="&gt;1"></td>
        <td><select name="finished"><option value="false"{{^finished}} selected{{/finished}}>waiting</option>
          <option value="true"{{#finished}} selected{{/finished}}>finished</option></select></td></tr>
        {{#rows}}<tr data-msgid="{{msgid}}"><td><input type="checkbox" class="pick" value="{{msgid}}"></td><td class="state">{{state}}</td><td>{{ip}}</td>
        <td>{{auth}}</td><td class="number">{{priority}}</td><td>{{to}}</td><td>{{from}}</td><td class="subject">{{subject}}</td><td>{{sent}}</td>
        <td class="number">{{size}}</td><td class="number"><a href="/queue/{{msgid}}">{{attempts}}</a></td><td>{{last_reply}}</td></tr>
        {{/rows}}{{^rows}}<tr><td colspan="12">Nothing matches.</td></tr>{{/rows}}
        </table></form>
        <p>{{total}} recipients match. With those ticked:
        <button class="bulk" data-action="hold">Hold</button> <button class="bulk" data-action="release">Release</button>
        <button class="bulk" data-action="retry">Retry now</button> <button class="bulk" data-action="delete">Delete</button></p>
        {{#attempts_for}}<h2>Delivery attempts of {{attempts_for}}</h2>
        <table id="attempts"><tr><th>#</th><th>Started</th><th>Route</th><th>Domain</th><th>MX host</th><th>IP</th><th>TLS</th><th>Result</th></tr>
        {{#attempts}}<tr><td>{{attempt}}</td><td>{{started}}</td><td>{{route}}</td><td>{{domain}}</td><td>{{mxhost}}</td><td>{{ip}}</td>
        <td>{{tls}}</td><td>{{result}}</td></tr>{{/attempts}}</table>{{/attempts_for}}
        {{/body}}{{$script}}
        <script>
        document.querySelectorAll('button.bulk').forEach(button => button.addEventListener('click', async () => {
          const ids = [...new Set([...document.querySelectorAll('input.pick:checked')].map(box => box.value))];
          if (ids.length === 0) { notice('Tick the messages first.', true); return; }
          if (button.dataset.action === 'delete' && !confirm('Delete ' + ids.length + ' messages?')) return;
          try {
            for (const id of ids) await api('POST', '/queue/' + encodeURIComponent(id) + '/' + button.dataset.action);
            location.reload();
          } catch (error) { notice(error.message, true); }
        }));
        </script>
        {{/script}}{{/frame}}
        """

    static let users = """
        {{<frame}}{{$body}}
        <form class="inline" method="get" action="/users"><label>Search <input name="q" value="{{q}}"></label><button>Search</button>
        <a href="/api/v1/users/export">Export CSV</a></form>
        <table id="users"><tr><th>User</th><th>Admin</th><th>Protocols</th><th>Internet mail</th><th>Locked out</th><th>Forwarding</th>
        <th>Comments</th><th></th></tr>
        {{#rows}}<tr data-user="{{name}}"><td><a href="/users/{{name}}">{{name}}</a></td><td>{{#admin}}yes{{/admin}}</td><td>{{protocols}}</td>
        <td>{{#may_send_internet_mail}}yes{{/may_send_internet_mail}}{{^may_send_internet_mail}}no{{/may_send_internet_mail}}</td>
        <td>{{#locked_out}}<span class="bad">locked</span>{{/locked_out}}</td><td>{{#use_forwarding}}{{forward_to}}{{/use_forwarding}}</td>
        <td>{{comments}}</td>
        <td><button data-act="PATCH /users/{id}" data-id="{{name}}" data-body='{"locked_out": {{^locked_out}}true{{/locked_out}}{{#locked_out}}false{{/locked_out}}}'>
        {{#locked_out}}Unlock{{/locked_out}}{{^locked_out}}Lock out{{/locked_out}}</button>
        <button data-act="DELETE /users/{id}" data-id="{{name}}" data-confirm="Remove {{name}} and their mail?">Remove</button></td></tr>
        {{/rows}}</table>
        <p>{{total}} users.</p>
        <h2>Add a user</h2>
        <form class="inline" id="add-user" data-api="POST /users">
        <label>User name <input name="name" required maxlength="64"></label>
        <label>Password <input name="password" type="password" autocomplete="new-password" data-optional></label>
        <label>Comments <input name="comments" data-optional></label>
        <label>Administrator <input name="admin" type="checkbox"></label>
        <button type="submit">Add</button></form>
        <h2>Import users from CSV</h2>
        <form class="inline" id="import"><label>CSV file <input type="file" id="csv" accept=".csv,text/csv"></label>
        <button type="button" id="preview">Preview</button> <button type="button" id="apply" disabled>Import</button></form>
        <div id="import-report"></div>
        {{/body}}{{$script}}
        <script>
        let csvText = null;
        function report(answer) {
          const box = document.getElementById('import-report');
          box.textContent = '';
          for (const [label, names] of [['New', answer.created], ['Changed', answer.updated], ['Unchanged', answer.unchanged]]) {
            const line = document.createElement('p');
            line.textContent = label + ' (' + names.length + '): ' + names.join(', ');
            box.appendChild(line);
          }
        }
        document.getElementById('preview').onclick = async () => {
          const file = document.getElementById('csv').files[0];
          if (!file) { notice('Choose a CSV file first.', true); return; }
          csvText = await file.text();
          try {
            report(await api('POST', '/users/import?dry_run=true', csvText, 'text/csv'));
            notice('Nothing is changed yet: check the preview, then import.');
            document.getElementById('apply').disabled = false;
          } catch (error) { notice(error.message, true); document.getElementById('apply').disabled = true; }
        };
        document.getElementById('apply').onclick = async () => {
          try { report(await api('POST', '/users/import', csvText, 'text/csv')); notice('Imported.'); }
          catch (error) { notice(error.message, true); }
        };
        </script>
        {{/script}}{{/frame}}
        """

    /// One user's every field, to change them together.
    static let user = """
        {{<frame}}{{$body}}{{#subject}}
        <form class="inline" id="edit-user" data-api="PATCH /users/{name}">
        <input type="hidden" name="name" value="{{name}}">
        <label>New password <input name="password" type="password" autocomplete="new-password" data-optional></label>
        <label>Administrator <input name="admin" type="checkbox"{{#admin}} checked{{/admin}}></label>
        <label>Locked out <input name="locked_out" type="checkbox"{{#locked_out}} checked{{/locked_out}}></label>
        <label>May send internet mail <input name="may_send_internet_mail" type="checkbox"{{#may_send_internet_mail}} checked{{/may_send_internet_mail}}></label>
        <label>Protocols (of {{all_protocols}}) <input name="protocols" value="{{protocols}}" data-kind="list"></label>
        <label>Forward to <input name="forward_to" value="{{forward_to}}"></label>
        <label>Forwarding on <input name="use_forwarding" type="checkbox"{{#use_forwarding}} checked{{/use_forwarding}}></label>
        <label>Reply address <input name="reply_to" value="{{reply_to}}"></label>
        <label>Assistants <input name="assistants" value="{{assistants}}" data-kind="list"></label>
        <label>Send only to assistant <input name="send_only_to_assistant" type="checkbox"{{#send_only_to_assistant}} checked{{/send_only_to_assistant}}></label>
        <label>Send priority (−1000…1000) <input name="send_priority" type="number" min="-1000" max="1000" value="{{send_priority}}"></label>
        <label>Max outgoing size (bytes, 0 = none) <input name="max_outgoing_size" type="number" min="0" value="{{max_outgoing_size}}"></label>
        <label>In Everyone <input name="in_everyone" type="checkbox"{{#in_everyone}} checked{{/in_everyone}}></label>
        <label>CRAM-MD5 <input name="cram_md5" type="checkbox"{{#cram_md5}} checked{{/cram_md5}}></label>
        <label>APOP <input name="apop" type="checkbox"{{#apop}} checked{{/apop}}></label>
        <label>Comments <input name="comments" value="{{comments}}"></label>
        <button type="submit">Save</button></form>
        <p>Turning CRAM-MD5 or APOP on needs the password in the same change.</p>
        <p><a href="/users">All users</a></p>
        {{/subject}}{{/body}}{{/frame}}
        """

    static let directory = """
        {{<frame}}{{$body}}
        <h2>Local domains</h2>
        <table id="domains"><tr><th>Domain</th><th></th></tr>
        {{#domains}}<tr><td>{{pattern}}</td><td><button data-act="DELETE /domains/{id}" data-id="{{pattern}}" data-confirm="Remove {{pattern}}?">Remove</button></td></tr>{{/domains}}</table>
        <form class="inline" data-api="POST /domains"><label>Domain <input name="pattern" required></label><button>Add</button></form>
        <h2>Aliases</h2>
        <table id="aliases"><tr><th>Address</th><th>Delivers to</th><th></th></tr>
        {{#aliases}}<tr><td>{{address}}</td><td>{{target}}</td><td><button data-act="DELETE /aliases/{id}" data-id="{{address}}">Remove</button></td></tr>{{/aliases}}</table>
        <form class="inline" data-api="POST /aliases"><label>Address <input name="address" required></label>
        <label>Delivers to <input name="target" required></label><button>Add</button></form>
        <h2>Groups</h2>
        <table id="groups"><tr><th>Group</th><th>Enabled</th><th>Members</th><th></th></tr>
        {{#groups}}<tr><td>{{name}}</td><td>{{#enabled}}yes{{/enabled}}{{^enabled}}no{{/enabled}}</td>
        <td>{{#members}}{{.}} <button data-act="DELETE /groups/{id}/members/{member}" data-id="{{name}}" data-member="{{.}}">×</button> {{/members}}</td>
        <td><button data-act="DELETE /groups/{id}" data-id="{{name}}" data-confirm="Remove group {{name}}?">Remove</button></td></tr>{{/groups}}</table>
        <form class="inline" data-api="POST /groups"><label>Group <input name="name" required></label><button>Create</button></form>
        <form class="inline" data-api="PUT /groups/{name}/members/{user}"><label>Group <input name="name" required></label>
        <label>User <input name="user" required></label><button>Add member</button></form>
        <h2>Lists</h2>
        <table id="lists"><tr><th>List</th><th>Kind</th><th>Public</th><th>Description</th><th>Members</th><th></th></tr>
        {{#lists}}<tr><td>{{name}}</td><td>{{kind}}</td><td>{{#public}}yes{{/public}}</td><td>{{description}}</td>
        <td>{{#members}}{{.}} <button data-act="DELETE /lists/{id}/members/{member}" data-id="{{name}}" data-member="{{.}}">×</button> {{/members}}</td>
        <td><button data-act="DELETE /lists/{id}" data-id="{{name}}" data-confirm="Remove list {{name}}?">Remove</button></td></tr>{{/lists}}</table>
        <form class="inline" data-api="POST /lists"><label>List <input name="name" required></label>
        <label>Kind <select name="kind"><option>distribution</option><option>mailing</option><option>forwarding</option></select></label>
        <label>Description <input name="description" data-optional></label><label>Public <input name="public" type="checkbox"></label>
        <button>Create</button></form>
        <form class="inline" data-api="POST /lists/{name}/members"><label>List <input name="name" required></label>
        <label>Address <input name="address" required></label><button>Add member</button></form>
        {{/body}}{{/frame}}
        """

    static let settings = """
        {{<frame}}{{$body}}
        <form class="inline" method="get" action="/settings"><label>Find <input name="q" value="{{q}}"></label><button>Find</button></form>
        {{#groups}}<h2>{{title}}</h2>
        <table class="settings"><tr><th>Setting</th><th>Value</th><th></th><th>Default</th><th>Changed</th></tr>
        {{#settings}}<tr id="setting-{{key}}"><td><b>{{key}}</b><br><small>{{summary}}</small></td>
        <td><form data-api="PUT /settings/{key}"><input type="hidden" name="key" value="{{key}}">
        <input name="value" value="{{value}}" size="28" aria-label="{{key}}"> <button type="submit">Save</button></form></td>
        <td>{{^is_default}}<b>changed</b>{{/is_default}}</td><td><code>{{default}}</code></td>
        <td>{{#changed_by}}{{changed_by}}<br><small>{{changed_at}}</small>{{/changed_by}}</td></tr>{{/settings}}
        </table>{{/groups}}
        {{/body}}{{/frame}}
        """

    static let logs = """
        {{<frame}}{{$body}}
        <p>{{#tables}}<a href="/logs?table={{name}}">{{label}}</a> · {{/tables}}<a href="/security">IDS events and blocks</a></p>
        <form method="get" action="/logs" class="inline"><input type="hidden" name="table" value="{{table}}">
        {{#filters}}<label>{{name}} <input name="{{name}}" value="{{value}}"></label>{{/filters}}<button>Search</button></form>
        <table id="rows"><tr>{{#columns}}<th>{{.}}</th>{{/columns}}</tr>
        {{#rows}}<tr>{{#cells}}<td>{{.}}</td>{{/cells}}</tr>{{/rows}}</table>
        <div class="pager">{{total}} rows. {{#previous}}<a href="{{previous}}">Newer</a>{{/previous}} {{#next}}<a href="{{next}}">Older</a>{{/next}}</div>
        {{/body}}{{/frame}}
        """

    static let security = """
        {{<frame}}{{$body}}
        <h2>Blocked now</h2>
        <table id="blocks"><tr><th>Address</th><th>Until</th><th>Reason</th><th></th></tr>
        {{#blocks}}<tr><td>{{address}}</td><td>{{until}}</td><td>{{reason}}</td>
        <td><button data-act="DELETE /blocks/{id}" data-id="{{address}}">Lift</button></td></tr>{{/blocks}}
        {{^blocks}}<tr><td colspan="4">No address is blocked.</td></tr>{{/blocks}}</table>
        <form class="inline" data-api="POST /blocks" id="add-block"><label>Address or network <input name="address" required></label>
        <label>Minutes <input name="minutes" type="number" min="1" value="60"></label><label>Reason <input name="reason" data-optional></label>
        <button>Block</button></form>
        <h2>Most blocked addresses</h2>
        {{{blocked_chart}}}
        <h2>IDS events</h2>
        <table id="ids"><tr><th>Time</th><th>Address</th><th>Event</th><th>Details</th><th>Service</th></tr>
        {{#ids}}<tr><td>{{datetime}}</td><td>{{ipaddress}}</td><td>{{errortype}} {{errortext}}</td><td>{{errordetails}}</td><td>{{service}}</td></tr>{{/ids}}</table>
        <h2>Client addresses by trouble caused</h2>
        <table id="reputation"><tr><th>Address</th><th>Sessions</th><th>Messages</th><th>Relay denied</th><th>Invalid recipients</th>
        <th>Failed logins</th><th>Last seen</th></tr>
        {{#addresses}}<tr><td>{{ipaddress}}</td><td>{{sessions}}</td><td>{{messages}}</td><td>{{relaydenied}}</td><td>{{invalidrcpts}}</td>
        <td>{{authfailed}}</td><td>{{lastseen}}</td></tr>{{/addresses}}</table>
        <h2>Sender domains by trouble caused</h2>
        <table id="domains"><tr><th>Domain</th><th>Sessions</th><th>Messages</th><th>Relay denied</th><th>Invalid recipients</th><th>Last seen</th></tr>
        {{#domains}}<tr><td>{{domain}}</td><td>{{sessions}}</td><td>{{messages}}</td><td>{{relaydenied}}</td><td>{{invalidrcpts}}</td>
        <td>{{lastseen}}</td></tr>{{/domains}}</table>
        <h2>Message audit</h2>
        <form class="inline" method="get" action="/security"><label>User <input name="owner" value="{{owner}}"></label><button>Show</button></form>
        <table id="audit"><tr><th>Time</th><th>User</th><th>By</th><th>Command</th><th>Folder</th><th>To folder</th><th>Subject</th><th>From</th></tr>
        {{#audit}}<tr><td>{{datetime}}</td><td>{{owner}}</td><td>{{actionuser}}</td><td>{{cmd}}</td><td>{{sourcefolder}}</td>
        <td>{{targetfolder}}</td><td>{{subject}}</td><td>{{sender}}</td></tr>{{/audit}}</table>
        {{/body}}{{/frame}}
        """

    static let log = """
        {{<frame}}{{$body}}
        <h2>Projections</h2>
        <table id="projections"><tr><th>Projection</th><th>Mode</th><th class="number">Position</th><th class="number">Events waiting</th>
        <th>Digest</th><th></th></tr>
        {{#projections}}<tr><td>{{name}}</td><td>{{mode}}</td><td class="number">{{position}}</td><td class="number">{{behind}}</td>
        <td><pre class="digest" id="digest-{{name}}"></pre><button class="digest" data-projection="{{name}}">Digest</button></td>
        <td><button class="job" data-kind="verify" data-projection="{{name}}">Verify</button>
        <button class="job" data-kind="rebuild" data-projection="{{name}}">Rebuild</button></td></tr>{{/projections}}</table>
        <p><button class="job" data-kind="log-verify" id="verify-log">Verify the log's ledger</button>
        <progress id="job-progress" max="1" value="0" hidden></progress> <span id="job-state"></span></p>
        <pre id="job-result"></pre>
        <h2>Events</h2>
        <form method="get" action="/log" class="inline"><label>Stream <input name="stream" value="{{stream}}"></label>
        <label>Category <input name="category" value="{{category}}"></label><label>After position <input name="after" value="{{after}}"></label>
        <button>Show</button></form>
        <table id="log-events"><tr><th>Position</th><th>Recorded</th><th>Stream</th><th>Version</th><th>Event</th><th>Data</th></tr>
        {{#events}}<tr><td>{{position}}</td><td>{{recorded_at}}</td><td><a href="/log?stream={{stream}}">{{stream}}</a></td><td>{{version}}</td>
        <td>{{type}}</td><td><pre>{{data}}</pre></td></tr>{{/events}}</table>
        {{#next}}<p><a href="/log?after={{next}}&amp;stream={{stream}}&amp;category={{category}}">Later events</a></p>{{/next}}
        {{/body}}{{$script}}
        <script>
        async function watch(job) {
          const bar = document.getElementById('job-progress');
          bar.hidden = false;
          for (;;) {
            bar.value = job.progress;
            document.getElementById('job-state').textContent = job.kind + ' ' + (job.projection || '') + ': ' + job.state;
            if (job.state === 'succeeded' || job.state === 'failed') break;
            await new Promise(resolve => setTimeout(resolve, 300));
            job = await api('GET', '/jobs/' + job.id);
          }
          document.getElementById('job-result').textContent = job.result;
        }
        document.querySelectorAll('button.digest').forEach(button => button.addEventListener('click', async () => {
          try {
            const tables = await api('GET', '/projections/' + encodeURIComponent(button.dataset.projection) + '/digest');
            document.getElementById('digest-' + button.dataset.projection).textContent =
              tables.map(table => table.table + ': ' + table.rows + ' rows, ' + table.hash).join('\\n');
          } catch (error) { notice(error.message, true); }
        }));
        document.querySelectorAll('button.job').forEach(button => button.addEventListener('click', async () => {
          try {
            const body = {kind: button.dataset.kind};
            if (button.dataset.projection) body.projection = button.dataset.projection;
            await watch(await api('POST', '/jobs', body));
          } catch (error) { notice(error.message, true); }
        }));
        </script>
        {{/script}}{{/frame}}
        """
}
