"""Test process: serves prosem/query (prosem_msgs/srv/Query) answering with the question reversed."""
import rclpy
from rclpy.executors import ExternalShutdownException

from prosem_msgs.srv import Query


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("xproc_query_server")

    def handle(req, resp):
        resp.success = True
        resp.answer = req.question[::-1]
        resp.frame_seq = req.frame_seq
        resp.stream_id = req.stream_id
        resp.fidelity = req.min_fidelity
        return resp

    node.create_service(Query, "prosem/query", handle)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
