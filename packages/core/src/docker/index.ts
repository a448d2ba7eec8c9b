export {
  connectDocker,
  DEFAULT_DOCKER_SOCKET,
  type DockerEndpoint,
  describeEndpoint,
  dockerOptions,
} from "./connection.js";
export {
  type BuildRequest,
  type ContainerRuntime,
  type EngineFacts,
  type ImageFacts,
  openDockerRuntime,
} from "./runtime.js";
