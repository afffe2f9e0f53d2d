"""The log-in row shown above the tabs when writing needs a login (nover_ui/access.py decides who may write)."""

from __future__ import annotations

import gradio as gr

from nover_ui.access import Access, AccessDenied

LOGGED_OUT = "Anyone can read this dashboard; log in to queue, cancel, delete runs or upload data."


def build_login(access: Access) -> None:
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

    def log_in_form(user: str, password: str, request: gr.Request) -> tuple[str, str]:
        try:
            name = access.login(request.session_hash, user.strip(), password)
        except AccessDenied as exc:
            return f"**Not logged in:** {exc}.", ""
        return f"Logged in as **{name}** (until this page is reloaded).", ""

    def log_out_form(request: gr.Request) -> str:
        access.logout(request.session_hash)
        return LOGGED_OUT

    # Private, and named apart from the documented /login endpoint (nover_ui/api.py) that scripts use.
    gr.on([login_btn.click, password_tb.submit], log_in_form, [user_tb, password_tb], [status_md, password_tb],
          api_visibility="private")
    logout_btn.click(log_out_form, None, status_md, api_visibility="private")
