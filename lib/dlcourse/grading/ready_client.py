"""A kernel client that knows a fresh kernel is ready as soon as it has answered.

jupyter_client's ``wait_for_ready`` ends with a flush that always waits 0.2 s
for iopub to fall silent: a fifth of a second per submission, for nothing.
Here the wait ends when iopub carries the kernel's "idle" for our own
``kernel_info`` request, the last message that request causes, so the kernel
is provably connected on both channels. Messages left on iopub are no harm:
nbclient reads only the ones that answer its own requests.
"""

import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient

IOPUB_SILENCE_S = 0.2  # no iopub message for this long: not subscribed yet, ask again


class ReadyClient(AsyncKernelClient):
    async def wait_for_ready(self, timeout=None):
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            msg_id = self.kernel_info()
            if await self._answered(msg_id):
                return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    async def _answered(self, msg_id):
        """Whether ``msg_id`` got its shell reply and its "idle" on iopub."""
        try:
            reply = await self.shell_channel.get_msg(timeout=1)
        except Empty:
            return False
        if reply["msg_type"] != "kernel_info_reply":
            return False
        while True:
            try:
                msg = await self.iopub_channel.get_msg(timeout=IOPUB_SILENCE_S)
            except Empty:
                return False  # iopub was not connected when the kernel answered
            if (
                msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"
                and msg["parent_header"].get("msg_id") == msg_id
            ):
                self._handle_kernel_info_reply(reply)
                return True


def quick_manager():
    """jupyter_client's AsyncKernelManager, with :class:`ReadyClient` for its clients."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class QuickKernelManager(AsyncKernelManager):
        @default("client_factory")
        def _ready_client(self):
            return ReadyClient

    return QuickKernelManager
