export {
  connectDocker,
  DEFAULT_DOCKER_SOCKET,
  type DockerEndpoint,
  describeEndpoint,
  dockerOptions,
} from "./connection.js";
