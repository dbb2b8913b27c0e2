import { describe, expect, it } from 'vitest';
import { cliConnectCommand, connectSnippets, sshConfigLines } from './snippets';

const box = { name: 'web-dev', host: 'web.example.com', port: 2222, user: 'dev' };

describe('connect snippets', () => {
  it('an ssh config entry with a control master that docker-over-ssh reuses', () => {
    expect(connectSnippets(box).sshConfig).toBe(
      [
        'Host web-dev',
        '  HostName web.example.com',
        '  Port 2222',
        '  User dev',
        '  IdentityFile ~/.ssh/id_ed25519',
        '  ServerAliveInterval 30',
        '  ControlMaster auto',
        '  ControlPath ~/.ssh/boxyard-%r@%h:%p',
        '  ControlPersist 10m',
      ].join('\n'),
    );
  });

  it('docker, VS Code and JetBrains all go through the entry\'s name', () => {
    expect(connectSnippets(box)).toMatchObject({
      dockerContext: 'docker context create web-dev --docker "host=ssh://web-dev"',
      dockerHost: 'DOCKER_HOST=ssh://web-dev',
      vscodeRemoteUrl: 'vscode://vscode-remote/ssh-remote+web-dev/home/dev',
      vscodeDockerSetting: '"docker.host": "ssh://web-dev"',
      jetbrainsGateway: expect.stringContaining('Username dev, Host web.example.com, Port 2222'),
    });
    expect(connectSnippets({ ...box, user: 'root' }).vscodeRemoteUrl).toBe('vscode://vscode-remote/ssh-remote+web-dev/root');
  });

  it('IPv6 hosts and other identity files', () => {
    expect(sshConfigLines({ ...box, host: '2001:db8::7' }, '~/.ssh/work')).toEqual(expect.arrayContaining(['  HostName 2001:db8::7', '  IdentityFile ~/.ssh/work']));
    expect(sshConfigLines(box, 'C:/Users/Me/My Keys/id')).toContain('  IdentityFile "C:/Users/Me/My Keys/id"');
  });

  it('refuses values that would add options to an ssh config', () => {
    expect(() => sshConfigLines({ ...box, host: 'evil\nProxyCommand sh' })).toThrow('the host "evil\\nProxyCommand sh" cannot go into an ssh config');
    expect(() => sshConfigLines({ ...box, user: 'dev #' })).toThrow(/user/);
    expect(() => sshConfigLines(box, '/tmp/"x')).toThrow(/identity file/);
  });

  it('the CLI command names the dashboard', () => {
    expect(cliConnectCommand('https://boxyard.example.com')).toBe('boxyard connect --url https://boxyard.example.com --token <token>');
  });
});
