import { sh, type ShellCommand } from '../ssh/quote';

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  status: string;
  running: boolean;
}

export type ContainerListing = { containers: ContainerSummary[] } | { unavailable: string };

const NO_DOCKER = '__boxyard_no_docker__';

/** Lists all containers as JSON lines; prints a marker instead when the docker CLI is missing. */
export const listContainersCommand: ShellCommand = sh`if ! command -v docker >/dev/null 2>&1; then echo ${NO_DOCKER}; exit 0; fi; docker ps -a --no-trunc --format ${'{{json .}}'}`;

interface DockerPsLine {
  ID: string;
  Names: string;
  Image: string;
  Status: string;
  State?: string;
}

/** Turns `docker ps` output (or its failure) into containers or a message a developer can act on. */
export function parseContainerListing(result: { stdout: string; stderr: string; code: number | null }): ContainerListing {
  if (result.stdout.trim() === NO_DOCKER) return { unavailable: 'Docker is not installed on this box.' };
  if (result.code !== 0) {
    if (/permission denied/i.test(result.stderr)) {
      return { unavailable: "The box's SSH user may not use Docker: add it to the docker group (provisioning does this)." };
    }
    if (/Cannot connect to the Docker daemon|Is the docker daemon running/i.test(result.stderr)) {
      return { unavailable: 'Docker is installed but its daemon is not running on this box.' };
    }
    return { unavailable: `docker ps failed with exit code ${result.code}.` };
  }
  const containers = result.stdout
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .map((line) => JSON.parse(line) as DockerPsLine)
    .map((c) => ({
      id: c.ID.slice(0, 12),
      name: c.Names.split(',')[0] ?? c.ID.slice(0, 12),
      image: c.Image,
      status: c.Status,
      // `State` arrived in newer docker CLIs; older ones only say "Up ..." in Status.
      running: c.State ? c.State === 'running' : c.Status.startsWith('Up'),
    }));
  return { containers: containers.sort((a, b) => Number(b.running) - Number(a.running) || a.name.localeCompare(b.name)) };
}
