"""A sample object server: two objects in the browser, a page, an upload folder."""

import time

from labdeck.compat.wispy import RPCWebApp


class Sample:
    def __init__(self):
        self.a = 1
        self.note = "hello"
        self.secret = "s3cret"
        self.tracked_channel_values = {"sample/count": 0}

    def test_sum(self, x, y):
        return x + y

    def bump(self):
        self.tracked_channel_values["sample/count"] += 1
        return self.tracked_channel_values["sample/count"]


class Laser:
    def __init__(self):
        self.power = 0.5
        self.label = "<b>laser</b>"

    def fire(self, seconds):
        time.sleep(seconds)
        return "fired"


if __name__ == "__main__":
    app = RPCWebApp(sample=Sample(), laser=Laser(), config="config.yaml")
    app.run()
