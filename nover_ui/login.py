"""The log-in row shown above the tabs when writing needs a login (nover_ui/access.py decides who may write).

The button runs in the browser: it posts to the app's /nover/login route, whose answer sets the login cookie
(Gradio handlers cannot set one), and shows the route's message. Each page load reads the cookie back, so a
login survives a reload until it expires or the person logs out.
"""

from __future__ import annotations

import json

import gradio as gr

from nover_ui.access import Access
from nover_ui.login_routes import LOGIN_PATH, LOGOUT_PATH, logged_in_text

LOGGED_OUT = "Anyone can read this dashboard; log in to queue, cancel, delete runs or upload data."
_ROOT_JS = "((window.gradio_config && window.gradio_config.root) || window.location.pathname).replace(/\\/+$/, '')"
LOGIN_JS = f"""
async (user, password) => {{
  try {{
    const response = await fetch({_ROOT_JS} + "{LOGIN_PATH}", {{
      method: "POST", credentials: "same-origin", headers: {{"Content-Type": "application/json"}},
      body: JSON.stringify({{user: user.trim(), password: password}})}});
    return [(await response.json()).message, ""];
  }} catch (error) {{
    return ["**Not logged in:** the dashboard did not answer; try again.", ""];
  }}
}}
"""
LOGOUT_JS = f"""
async () => {{
  await fetch({_ROOT_JS} + "{LOGOUT_PATH}", {{method: "POST", credentials: "same-origin"}});
  return {json.dumps(LOGGED_OUT)};
}}
"""


def build_login(access: Access, blocks: gr.Blocks) -> None:
    with gr.Row(equal_height=True, elem_id="login-row"):
        if access.passwords:
            user_tb = gr.Textbox(label="User", scale=1, elem_id="login-user")
            password_tb = gr.Textbox(label="Password", type="password", scale=1, elem_id="login-password")
            login_btn = gr.Button("Log in", scale=0, elem_id="login-button")
            logout_btn = gr.Button("Log out", scale=0, elem_id="logout-button")
        if access.hf_users is not None:
            # Sign-in with Hugging Face on a Space with `hf_oauth: true`; the session cookie it sets is read by
            # Access.user on every write.
            gr.LoginButton(scale=0)
        status_md = gr.Markdown(LOGGED_OUT, elem_id="login-status")

    if not access.passwords:
        return

    def show_login(request: gr.Request) -> str:
        found = access.login_of(request)
        return logged_in_text(*found) if found else LOGGED_OUT

    blocks.load(show_login, None, status_md, api_visibility="private", show_progress="hidden")
    # No Python handler: the browser itself talks to the login routes, so only it ever holds the cookie.
    gr.on(
        [login_btn.click, password_tb.submit],
        None,
        [user_tb, password_tb],
        [status_md, password_tb],
        js=LOGIN_JS,
        api_visibility="private",
    )
    logout_btn.click(None, None, status_md, js=LOGOUT_JS, api_visibility="private")
