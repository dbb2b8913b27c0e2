import { AddHostForm } from '../../../../components/hosts/host-form';
import { PageHeader } from '../../../../components/ui';

export default function NewHostPage() {
  return (
    <>
      <PageHeader title="Add a host" />
      <AddHostForm />
    </>
  );
}
